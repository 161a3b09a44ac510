"""Storage: schema, engines, sessions and migrations."""

from collector.db.base import table_of
from collector.db.engine import make_engine, normalize_url, session_factory, session_scope
from collector.db.migrate import upgrade_head
from collector.db.models import (
    AlertEvent,
    AlertRule,
    ApiKey,
    Attempt,
    Base,
    BatchJob,
    BillDay,
    BillLine,
    Budget,
    GatewayFile,
    PriceOverride,
    Project,
    ReconcileRun,
    Request,
    hourly_rollups,
    hourly_tag_rollups,
)
from collector.db.types import Money, UTCDateTime

__all__ = [
    "AlertEvent",
    "AlertRule",
    "ApiKey",
    "Attempt",
    "Base",
    "BatchJob",
    "BillDay",
    "BillLine",
    "Budget",
    "GatewayFile",
    "Money",
    "PriceOverride",
    "Project",
    "ReconcileRun",
    "Request",
    "UTCDateTime",
    "hourly_rollups",
    "hourly_tag_rollups",
    "make_engine",
    "normalize_url",
    "session_factory",
    "session_scope",
    "table_of",
    "upgrade_head",
]
