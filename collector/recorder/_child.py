"""The writer process: ``python -m collector.recorder._child``, started by :class:`WriterProcess`.

Reads a hello frame (how to connect, :class:`~collector.dbapi.ConnectSpec`, and what to
write, :class:`~collector.recorder._plan.WritePlan`; sent over the pipe so no secret shows in
the process list), answers ``ready``, then writes each batch frame with
``_batch.write_events`` and answers ``ok`` with the count of new requests, ``poison`` or
``storage`` with the reason. Ends when its input closes, after a last WAL checkpoint. Its
standard output carries frames only: anything printed goes to standard error.

It imports no SQLAlchemy (and nothing of the gateway's): its own memory is Python, sqlite3
(or psycopg) and the writer's modules.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
from typing import Any

from collector.dbapi import ConnectSpec, WalCheckpointThread, connect
from collector.errors import StorageError
from collector.recorder._batch import PoisonBatch, write_events
from collector.recorder._plan import WritePlan
from collector.recorder._wire import WireError, receive, send
from collector.recorder.codec import decode_batch

log = logging.getLogger("collector.recorder.writer_process")
_BACKSTOP_PAGES = 10_000  # SQLite's own checkpoints while the thread runs them (see checkpoint)


class _Writer:
    """One connection (reopened after the database dropped it) and the WAL thread beside it."""

    def __init__(self, spec: ConnectSpec, plan: WritePlan) -> None:
        self.spec, self.plan = spec, plan
        self.conn: Any = None
        self.checkpoints = WalCheckpointThread(spec.wal_path) if spec.wal_path else None

    def open(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.start()
        self._connection()

    def write(self, payload: bytes) -> int:
        return write_events(self._connection(), self.plan, decode_batch(payload))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.checkpoints is not None:
            self.checkpoints.stop()

    def _connection(self) -> Any:
        if self.conn is not None and not getattr(self.conn, "closed", False):
            return self.conn
        try:
            self.conn = connect(self.spec)
        except Exception as exc:
            self.conn = None
            raise StorageError(f"cannot connect: {exc.__class__.__name__}: {exc}"[:500]) from exc
        if self.checkpoints is not None and self.checkpoints.active:
            self.conn.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_PAGES}")
        return self.conn


def _answer(writer: _Writer, payload: bytes) -> tuple[str, Any]:
    try:
        return "ok", writer.write(payload)
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
        hello = pickle.loads(receive(0))  # noqa: S301 - our parent's frame
        writer = _Writer(hello["spec"], hello["plan"])
        writer.open()
    except WireError:
        return 0
    except Exception as exc:
        send(frames_out, pickle.dumps(("storage", f"{exc.__class__.__name__}: {exc}")))
        return 1
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
        writer.close()


if __name__ == "__main__":
    sys.exit(main())
