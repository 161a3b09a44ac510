"""A process that takes events in and waits to be killed: run by test_journal.py.

Its flush interval is long, so nothing is written before the kill: every event it took in
exists only in its journal (and in its memory, which the kill takes).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from collector.db import make_engine
from collector.recorder import Recorder, RecorderConfig
from tests.factories import make_event


async def main(url: str, spool_dir: str, count: int, many: bool) -> None:
    config = RecorderConfig(flush_interval_s=600.0, batch_size=100_000, replay_interval_s=600)
    recorder = Recorder(make_engine(url), Path(spool_dir), config)
    await recorder.start()
    events = [make_event() for _ in range(count)]
    if many:  # a hundred at a time, as the Batch API poller hands lines over
        for start in range(0, count, 100):
            recorder.submit_many(events[start : start + 100])
    else:
        for event in events:
            recorder.submit(event)
    ids = [event.id for event in events]
    print(" ".join(ids), flush=True)  # every one of these was taken in
    await asyncio.sleep(600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["many"]))
