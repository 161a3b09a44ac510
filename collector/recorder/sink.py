"""Where the recorder's batches go: a writer in this process, or in a process of its own.

Both implement :class:`BatchWriter`: ``write`` returns how many requests were new and raises
:class:`~collector.errors.StorageError` when the database cannot take the batch (the recorder
spools it) or :class:`~collector.recorder.writer.PoisonBatch` when the data is refused (the
recorder splits it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine

from collector.db.checkpoint import WalCheckpointer
from collector.recorder.events import UsageEvent
from collector.recorder.writer import write_batch


class BatchWriter(Protocol):
    def start(self) -> None: ...

    def write(self, events: Sequence[UsageEvent]) -> int: ...

    def stop(self) -> None: ...


@runtime_checkable
class PackingWriter(BatchWriter, Protocol):
    """A writer that wants each event packed as it is submitted (see ``WriterProcess``)."""

    def pack(self, event: UsageEvent) -> Any: ...

    def unpack(self, rows: Sequence[Any]) -> list[UsageEvent]: ...

    def write_packed(self, rows: Sequence[Any]) -> int: ...


class InProcessWriter:
    """``write_batch`` on an engine of this process (and SQLite's WAL checkpoints beside it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite: WAL checkpoints run beside the writer, never inside its commits
        self.checkpointer = WalCheckpointer.for_engine(engine)

    def start(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.start()

    def write(self, events: Sequence[UsageEvent]) -> int:
        return write_batch(self.engine, events)

    def stop(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
