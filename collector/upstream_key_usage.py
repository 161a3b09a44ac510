"""How each server-held upstream key has been used, from the recorded attempts.

Every try records the last four characters of the key it sent (``attempts.upstream_key_last4``),
so per (upstream, key): its last use, the requests that tried it, its refusals (401/403),
rate limits (429) and server errors (5xx), and the spend of the requests it answered (their
final try used it). A key whose latest answer was a refusal (nothing accepted since) reads
``revoked``: the database is what every gateway process and the CLI share. Requests are found
through ``requests.started_at``'s index, then their attempts by primary key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Engine, and_, case, func, select, text

from collector.db import Attempt, Request
from collector.db.models import REFUSED_TRIES
from collector.upstream_keys import UpstreamKey

REFUSED = (401, 403)


@dataclass(frozen=True, slots=True)
class KeyUsage:
    """One key's record since a time (``spend_usd`` is exact; None when nothing was priced)."""

    upstream: str
    last4: str
    state: str  # active | revoked | removed (seen in the record, no longer configured)
    last_used: datetime | None = None
    requests: int = 0
    refused: int = 0  # 401/403
    rate_limited: int = 0  # 429
    server_errors: int = 0  # 5xx
    spend_usd: Decimal | None = None
    weight: int | None = None  # configured weight (None: not configured)

    @property
    def label(self) -> str:
        return f"…{self.last4}"


@dataclass(frozen=True, slots=True)
class _Seen:
    last_used: datetime | None
    requests: int
    refused: int
    rate_limited: int
    server_errors: int
    last_refused: datetime | None
    last_accepted: datetime | None


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _seen(engine: Engine, since: datetime) -> dict[tuple[str, str], _Seen]:
    upstream = func.coalesce(Attempt.upstream, "default")
    status = Attempt.http_status
    query = (
        select(
            upstream, Attempt.upstream_key_last4, func.max(Attempt.started_at),
            func.count(func.distinct(Attempt.request_id)), _count(status.in_(REFUSED)),
            _count(status == 429), _count(status >= 500),
            func.max(case((status.in_(REFUSED), Attempt.started_at))),
            func.max(case((status < 400, Attempt.started_at))),
        )
        .join(Request, Request.id == Attempt.request_id)
        .where(Request.started_at >= since, Attempt.upstream_key_last4.is_not(None))
        .group_by(upstream, Attempt.upstream_key_last4)
    )  # fmt: skip
    with engine.connect() as conn:
        return {
            (str(u), str(k)): _Seen(last, int(n), int(a or 0), int(r or 0), int(s or 0), ref, ok)
            for u, k, last, n, a, r, s, ref, ok in conn.execute(query)
        }


def _spend(engine: Engine, since: datetime) -> dict[tuple[str, str], Decimal | None]:
    """Cost of the requests whose answering (final) try used each key."""
    upstream = func.coalesce(Attempt.upstream, "default")
    final = and_(Attempt.request_id == Request.id, Attempt.attempt_no == Request.attempt_count)
    query = (
        select(upstream, Attempt.upstream_key_last4, func.sum(Request.cost_usd))
        .join(Attempt, final)
        .where(Request.started_at >= since, Attempt.upstream_key_last4.is_not(None))
        .group_by(upstream, Attempt.upstream_key_last4)
    )
    with engine.connect() as conn:
        return {(str(u), str(k)): cost for u, k, cost in conn.execute(query)}


def key_usage(
    engine: Engine, configured: Mapping[str, Sequence[UpstreamKey]], since: datetime
) -> list[KeyUsage]:
    """Every configured key (by upstream, in configured order), then keys only the record has."""
    seen, spend = _seen(engine, since), _spend(engine, since)
    out = []
    for upstream, keys in sorted(configured.items()):
        for key in keys:
            found = seen.pop((upstream, key.last4), None)
            out.append(_usage(upstream, key.last4, found, spend, weight=key.weight))
    for (upstream, last4), found in sorted(seen.items()):
        out.append(_usage(upstream, last4, found, spend, weight=None))
    return out


def refused_since(engine: Engine, since: datetime) -> dict[tuple[str, str], datetime]:
    """(upstream, last four) → latest refusal (401/403) since ``since``: how a gateway learns
    what other processes' tries found. Read from the partial index of refused tries alone."""
    upstream = func.coalesce(Attempt.upstream, "default")
    query = (
        select(upstream, Attempt.upstream_key_last4, func.max(Attempt.started_at))
        .where(text(REFUSED_TRIES), Attempt.started_at >= since)  # literal: the index's own
        .where(Attempt.upstream_key_last4.is_not(None))
        .group_by(upstream, Attempt.upstream_key_last4)
    )
    with engine.connect() as conn:
        return {(str(u), str(k)): at for u, k, at in conn.execute(query)}


def _revoked(seen: _Seen) -> bool:
    refused, accepted = seen.last_refused, seen.last_accepted
    return refused is not None and (accepted is None or refused > accepted)


def _usage(
    upstream: str,
    last4: str,
    seen: _Seen | None,
    spend: Mapping[tuple[str, str], Decimal | None],
    *,
    weight: int | None,
) -> KeyUsage:
    revoked = (
        seen is not None
        and seen.last_refused is not None
        and (seen.last_accepted is None or seen.last_refused > seen.last_accepted)
    )
    state = "removed" if weight is None else "revoked" if revoked else "active"
    if seen is None:
        return KeyUsage(upstream, last4, state, weight=weight)
    return KeyUsage(
        upstream, last4, state, seen.last_used, seen.requests, seen.refused, seen.rate_limited,
        seen.server_errors, spend.get((upstream, last4)), weight,
    )  # fmt: skip
