"""The read replica: the engine read-only consumers open, and how far behind the primary it is.

``SPENDSCOPE_READ_DATABASE_URL`` names a PostgreSQL streaming standby. The dashboard, the
reports and the alert evaluator's measurements read from it; everything that writes (and hard
budgets, which must be exact) keeps the primary. The lag is measured by comparing WAL
positions first — a replica that has replayed everything the primary wrote is 0 s behind, however
long ago the last transaction was (an idle primary leaves ``pg_last_xact_replay_timestamp()``
old) — and only when it has not, as the age of the last transaction it replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from collector.db.engine import make_engine


@dataclass(frozen=True, slots=True)
class ReplicaLag:
    """How far the replica is behind: ``seconds`` (None when unknown) and WAL ``bytes``."""

    seconds: float | None
    bytes: int | None
    detail: str = ""  # why the lag is unknown (e.g. the replica is unreachable)

    def exceeds(self, bound_s: float) -> bool:
        """Behind by more than ``bound_s``; an unreachable replica counts as behind."""
        return self.seconds is None or self.seconds > bound_s


CAUGHT_UP = ReplicaLag(seconds=0.0, bytes=0)
# WAL positions of one and the same record can differ by its alignment padding (a received
# position sits up to a few bytes past the replayed record's end); any transaction writes far
# more than this (a commit record alone is over 40 bytes), so nothing committed hides in it.
_ALIGNMENT_SLACK = 32

_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn(),"
    " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
)
_PRIMARY_LSN = text("SELECT pg_current_wal_lsn()")
_LSN_DIFF = text("SELECT pg_wal_lsn_diff(CAST(:a AS pg_lsn), CAST(:b AS pg_lsn))")


def read_engine(
    read_url: str | None, primary: Engine | None = None, *, busy_timeout_ms: int = 5000
) -> Engine:
    """The engine readers use: the replica's when ``read_url`` is set, else ``primary`` (or a
    new engine on it when none is given)."""
    if read_url is not None:
        return make_engine(read_url, busy_timeout_ms=busy_timeout_ms)
    if primary is None:
        raise ValueError("read_engine needs a read URL or the primary's engine")
    return primary


def replica_lag(primary: Engine, replica: Engine) -> ReplicaLag:
    """The replica's lag behind the primary (PostgreSQL; any other backend is never behind).

    The primary's WAL position is read first: a replica that has replayed up to it holds
    everything committed before this call. When the primary cannot be reached, the replica's
    own received-versus-replayed positions stand in for it.
    """
    if replica.dialect.name != "postgresql":
        return CAUGHT_UP
    try:
        primary_lsn = _primary_lsn(primary)
        with replica.connect() as conn:
            in_recovery, replayed, received, age = conn.execute(_REPLICA_STATE).one()
            if not in_recovery:
                return CAUGHT_UP  # the "replica" is a primary itself (e.g. after a promotion)
            target = primary_lsn or received
            if target is None or replayed is None:
                return ReplicaLag(
                    seconds=None, bytes=None, detail="the replica has replayed no WAL"
                )
            behind = int(conn.execute(_LSN_DIFF, {"a": target, "b": replayed}).scalar_one())
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return ReplicaLag(seconds=None, bytes=None, detail=f"replica unreachable: {first}")
    if behind <= _ALIGNMENT_SLACK:
        return CAUGHT_UP
    seconds = float(age) if age is not None else None
    return ReplicaLag(seconds=max(seconds, 0.0) if seconds is not None else None, bytes=behind)


def _primary_lsn(primary: Engine) -> str | None:
    """The primary's current WAL position, or None when it cannot be read (down, or a standby)."""
    try:
        with primary.connect() as conn:
            return str(conn.execute(_PRIMARY_LSN).scalar_one())
    except SQLAlchemyError:
        return None


def describe(lag: ReplicaLag) -> str:
    """One line for people: how far behind, in time and bytes."""
    if lag.seconds is None:
        return f"lag unknown ({lag.detail})" if lag.detail else "lag unknown"
    seconds = timedelta(seconds=round(lag.seconds))
    size = f", {lag.bytes:,} bytes of WAL not yet replayed" if lag.bytes else ""
    return f"{seconds} behind the primary{size}"
