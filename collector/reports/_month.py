"""Report months: ``YYYY-MM`` → the UTC half-open range it covers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# ASCII digits only and no surrounding whitespace: the month also names a download (a header).
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_month(text: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC; ValueError on bad input."""
    found = _MONTH.fullmatch(text)
    if found is None or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1970:
        raise ValueError(f"bad month {text[:20]!r}; expected YYYY-MM, e.g. 2026-11")
    year, month = int(found[1]), int(found[2])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end
