"""Tests whose events and checks must fall on one UTC day: wait out a midnight that is near."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

DAY_S = 86400.0


def clear_of_midnight(margin_s: float = 120.0) -> datetime:
    """Now, at least ``margin_s`` after a UTC midnight and before the next one.

    Near a midnight it sleeps until ``margin_s`` past it, so a test that books an event a minute
    in the past and checks a daily budget or a day's bucket a few seconds later sees one day,
    whenever the suite happens to run."""
    into_day = time.time() % DAY_S
    if into_day < margin_s:
        time.sleep(margin_s - into_day)
    elif into_day > DAY_S - margin_s:
        time.sleep(DAY_S - into_day + margin_s)
    return datetime.now(UTC)


def day_start(now: datetime) -> int:
    """The Unix time of the UTC midnight that opens ``now``'s day."""
    return int(datetime.combine(now.date(), datetime.min.time(), UTC).timestamp())


def minute_ago(now: datetime) -> datetime:
    """A started_at a client could report: whole seconds, a minute before ``now``."""
    return now.replace(microsecond=0) - timedelta(minutes=1)
