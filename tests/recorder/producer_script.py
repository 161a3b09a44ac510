"""A process that records events until SIGTERM, then drains: run by test_sigterm.py."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from collector.db import make_engine
from collector.recorder import Recorder, RecorderConfig
from tests.factories import make_event


async def main(url: str, spool_dir: str, shutdown_timeout: float) -> None:
    config = RecorderConfig(batch_size=200, flush_interval_s=0.05,
                            shutdown_timeout_s=shutdown_timeout)  # fmt: skip
    recorder = Recorder(make_engine(url), Path(spool_dir), config)
    await recorder.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    while not stop.is_set():
        for _ in range(100):
            recorder.submit(make_event())
        await asyncio.sleep(0.005)
    await recorder.stop()
    print(f"submitted={recorder.stats.submitted} spooled={recorder.stats.spooled}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
