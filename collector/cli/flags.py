"""Flag parsing shared by the pricing commands: counts, instants, exit codes, overrides."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from collector.cli.common import fail

if TYPE_CHECKING:
    from collector.pricing import PriceOverride

EXIT_BAD_INPUT = 2
EXIT_UNPRICED = 3
_DIGITS = re.compile(r"\d+")


def count_flag(value: str | None, flag: str, *, required: bool = False) -> int:
    """A non-negative integer flag (0 when absent and not required)."""
    if value is None:
        if required:
            fail(f"{flag} is required")
        return 0
    if not _DIGITS.fullmatch(value.strip()):
        fail(f"{flag} must be a non-negative integer, got {value!r}")
    return int(value)


def instant_flag(value: str | None, flag: str) -> datetime:
    """Parse an ISO-8601 date or instant; a naive value is taken as UTC; absent is now."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"{flag} must be an ISO-8601 date or datetime, got {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def configured_overrides() -> list[PriceOverride]:
    """Price overrides from the configured database, or none when it is missing/unmigrated."""
    from collector.errors import SettingsError
    from collector.pricing import stored_overrides
    from collector.settings import get_settings

    try:
        settings = get_settings()
    except SettingsError:
        return []
    return stored_overrides(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
