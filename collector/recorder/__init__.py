"""The recorder: the only writer of ``requests``/``attempts`` and their hourly rollups.

Names are loaded on first use, so the writer process (``_child``), which imports only the
SQLAlchemy-free modules of this package, does not load the rest (and SQLAlchemy with it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.recorder._jobs import (
        BACKGROUND_KEY,
        CACHE_KEY,
        FILE_KEY,
        JOB_KEY,
        RESERVED_KEYS,
        SIMILARITY_KEY,
        background_note,
        file_note,
        job_note,
    )
    from collector.recorder.events import (
        AttemptEvent,
        UsageEvent,
        derived_request_id,
        new_request_id,
        set_usage_columns,
        ulid,
        usage_columns,
    )
    from collector.recorder.process import WriterProcess
    from collector.recorder.service import Recorder, RecorderConfig, RecorderStats
    from collector.recorder.sink import BatchWriter, InProcessWriter
    from collector.recorder.spool import Spool
    from collector.recorder.writer import PoisonBatch, write_batch

_WHERE = {
    "CACHE_KEY": "_jobs",
    "BACKGROUND_KEY": "_jobs",
    "background_note": "_jobs",
    "FILE_KEY": "_jobs",
    "JOB_KEY": "_jobs",
    "RESERVED_KEYS": "_jobs",
    "SIMILARITY_KEY": "_jobs",
    "file_note": "_jobs",
    "job_note": "_jobs",
    "AttemptEvent": "events",
    "UsageEvent": "events",
    "new_request_id": "events",
    "derived_request_id": "events",
    "ulid": "events",
    "usage_columns": "events",
    "set_usage_columns": "events",
    "WriterProcess": "process",
    "Recorder": "service",
    "RecorderConfig": "service",
    "RecorderStats": "service",
    "BatchWriter": "sink",
    "InProcessWriter": "sink",
    "Spool": "spool",
    "PoisonBatch": "writer",
    "write_batch": "writer",
}

__all__ = [
    "BACKGROUND_KEY",
    "CACHE_KEY",
    "FILE_KEY",
    "JOB_KEY",
    "RESERVED_KEYS",
    "SIMILARITY_KEY",
    "AttemptEvent",
    "BatchWriter",
    "InProcessWriter",
    "PoisonBatch",
    "Recorder",
    "RecorderConfig",
    "RecorderStats",
    "Spool",
    "UsageEvent",
    "WriterProcess",
    "background_note",
    "derived_request_id",
    "file_note",
    "job_note",
    "new_request_id",
    "set_usage_columns",
    "ulid",
    "usage_columns",
    "write_batch",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
