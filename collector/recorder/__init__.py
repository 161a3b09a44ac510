"""The recorder: the only writer of ``requests``/``attempts`` and their hourly rollups."""

from collector.recorder.events import AttemptEvent, UsageEvent, new_request_id
from collector.recorder.process import WriterProcess
from collector.recorder.service import Recorder, RecorderConfig, RecorderStats
from collector.recorder.sink import BatchWriter, InProcessWriter
from collector.recorder.spool import Spool
from collector.recorder.writer import PoisonBatch, write_batch

__all__ = [
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
    "new_request_id",
    "write_batch",
]
