"""The writer process: ``python -m collector.recorder._child``, started by :class:`WriterProcess`.

Reads a hello frame (the database URL and busy timeout, sent over the pipe so no secret shows
in the process list), answers ``ready``, then writes each batch frame with ``write_batch`` and
answers ``ok`` with the count of new requests, ``poison`` or ``storage`` with the reason. Ends
when its input closes, after a last WAL checkpoint. Its standard output carries frames only:
anything printed goes to standard error.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
from typing import Any

from collector.db import make_engine
from collector.errors import StorageError
from collector.recorder._wire import WireError, decode_events, receive, send
from collector.recorder.sink import InProcessWriter
from collector.recorder.writer import PoisonBatch

log = logging.getLogger("collector.recorder.writer_process")


def _answer(writer: InProcessWriter, payload: bytes) -> tuple[str, Any]:
    try:
        return "ok", writer.write(decode_events(payload))
    except PoisonBatch as exc:
        return "poison", str(exc)
    except StorageError as exc:
        return "storage", str(exc)
    except Exception as exc:  # a bug must not end the process: the batch is spooled, not lost
        log.exception("writer process: batch failed")
        return "storage", f"writer process failed: {exc!r}"[:500]


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway drains through us, then closes
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="spendscope writer %(levelname)s %(message)s")
    frames_out = os.dup(1)
    os.dup2(2, 1)  # a stray print must not corrupt a frame
    sys.stdout = sys.stderr
    try:
        hello = pickle.loads(receive(0))
        engine = make_engine(hello["url"], busy_timeout_ms=int(hello["busy_timeout_ms"]))
    except WireError:
        return 0
    except Exception as exc:
        send(frames_out, pickle.dumps(("storage", f"{exc.__class__.__name__}: {exc}")))
        return 1
    writer = InProcessWriter(engine)
    writer.start()
    try:
        send(frames_out, pickle.dumps(("ready", os.getpid())))
        while True:
            try:
                payload = receive(0)
            except WireError:
                return 0  # the gateway closed the pipe (or died)
            send(frames_out, pickle.dumps(_answer(writer, payload)))
    except BrokenPipeError:
        return 0
    finally:
        writer.stop()
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
