"""Where the recorder's batches go: a writer in this process, or in a process of its own.

Both implement :class:`BatchWriter`: ``write`` returns how many requests were new and raises
:class:`~collector.errors.StorageError` when the database cannot take the batch (the recorder
spools it) or :class:`~collector.recorder.writer.PoisonBatch` when the data is refused (the
recorder splits it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine

from collector.db.checkpoint import WalCheckpointer
from collector.recorder.events import UsageEvent
from collector.recorder.writer import write_batch


class BatchWriter(Protocol):
    """Writes a batch given both as events and as their encoded lines (each writer takes
    the form it needs: events in this process, lines down a pipe)."""

    def start(self) -> None: ...

    def write(self, events: Sequence[UsageEvent], lines: Sequence[bytes] | None = None) -> int:
        """Write the batch; returns how many requests were new."""
        ...

    def stop(self) -> None: ...


class InProcessWriter:
    """``write_batch`` on an engine of this process (and SQLite's WAL checkpoints beside it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite: WAL checkpoints run beside the writer, never inside its commits
        self.checkpointer = WalCheckpointer.for_engine(engine)

    def start(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.start()

    def write(self, events: Sequence[UsageEvent], lines: Sequence[bytes] | None = None) -> int:
        return write_batch(self.engine, events)

    def stop(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
