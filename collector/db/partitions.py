"""Monthly partitions of ``requests`` and ``attempts`` on PostgreSQL (made by migration 0031).

Both tables are partitioned by range of the request id (``attempts`` by ``request_id``). Ids
are ULIDs whose first ten characters spell the millisecond they were made, so a month is the
range of ids between two ten-character prefixes. Keying on the id keeps three things exact:
the primary key stays ``(id)`` (PostgreSQL enforces it on a partitioned table because it
holds the partition key), a request and its attempts always share a month, and each month's
attempts have a foreign key to that month's requests only (``ON DELETE CASCADE``, a key
between two plain tables: cheap to check on insert, and a month is dropped without scanning
the others). A DEFAULT pair takes every other id (not a ULID, or a month not created yet),
so no row is refused; creating a month moves its rows out of the default pair.

Months are created ahead (this one and :data:`AHEAD` more) by the maintenance
(``collector.db.retention``), never by hand. Retention detaches each month older than the
cutoff and cuts it down to the rows it must keep (``collector.db.month_cut``). The detach is
a plain one (PostgreSQL refuses ``DETACH … CONCURRENTLY`` on a table with a default
partition): a catalog change under the parents' lock, taken with a short ``lock_timeout``
and tried again, so the recorder's inserts queued behind it wait no longer than that.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from collector.db.models import UNPRICED_ROWS
from collector.ulid import decode, ulid

AHEAD = 2  # months created ahead of the current one
LOCK_TIMEOUT_MS = 200  # how long a DDL waits for the recorder's transactions before retrying
LOCK_TRIES = 10
KEPT = UNPRICED_ROWS  # what retention never deletes (see collector.db.retention)
TABLES = ("requests", "attempts")
KEYS = {"requests": "id", "attempts": "request_id"}
_LEAF = re.compile(r"^(requests|attempts)_p(\d{6}|default)$")
_RETENTION = re.compile(r"^(requests|attempts)_p\d{6}_(old|next|touched)$")  # a cut's tables
ULID_SQL = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$"  # a ULID as the gateway spells it (upper case)


def month_of(moment: datetime) -> datetime:
    """The first instant (UTC) of ``moment``'s month."""
    at = moment.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def bound(month: datetime) -> str:
    """The ten-character id prefix where ``month`` starts (ids sort by their time)."""
    return ulid(int(month.timestamp() * 1000), 0)[:10]


def id_month(request_id: str) -> datetime | None:
    """The month a ULID request id was made in (None for anything else)."""
    value = decode(request_id)
    if value is None:
        return None
    try:
        return month_of(datetime.fromtimestamp((value >> 80) / 1000, UTC))
    except (ValueError, OverflowError, OSError):  # past year 9999: no month of ours
        return None


def leaf(table: str, month: datetime | None) -> str:
    """The partition of ``table`` for ``month`` (None: the default partition)."""
    return f"{table}_pdefault" if month is None else f"{table}_p{month:%Y%m}"


def is_leaf(name: str | None) -> bool:
    """Whether ``name`` is a partition's table (the models do not declare them)."""
    return bool(name) and _LEAF.match(str(name)) is not None


def is_month_table(name: str | None) -> bool:
    """Whether ``name`` is a partition's table or one a retention cut made beside it (a staged
    pair, its log, an old pair not dropped yet): the models declare none of them."""
    return is_leaf(name) or (bool(name) and _RETENTION.match(str(name)) is not None)


def is_partitioned(conn: Connection) -> bool:
    """Whether ``requests`` is a partitioned table here (PostgreSQL after migration 0031)."""
    if conn.dialect.name != "postgresql":
        return False
    sql = "SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('requests')"
    return conn.execute(text(sql)).scalar() is not None


def months(conn: Connection) -> list[datetime]:
    """The months with a partition attached to ``requests``, oldest first."""
    sql = (
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = to_regclass('requests')"
    )
    return _named_months(conn.execute(text(sql)).scalars())


def _named_months(names: Iterable[str]) -> list[datetime]:
    out = []
    for name in names:
        match = _LEAF.match(name)
        if match and match.group(2) != "default":
            out.append(datetime.strptime(match.group(2) + "01", "%Y%m%d").replace(tzinfo=UTC))
    return sorted(out)


def detached(conn: Connection) -> list[datetime]:
    """Months whose ``requests`` partition is detached but not dropped (a retention cut
    short): they still have to be cut (:func:`collector.db.month_cut.cut_month`)."""
    sql = (
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
        "AND c.relnamespace = to_regnamespace(current_schema()) AND c.relname LIKE 'requests_p%' "
        "AND NOT c.relispartition"
    )
    return _named_months(conn.execute(text(sql)).scalars())


def range_clause(month: datetime) -> str:
    return f"FOR VALUES FROM ('{bound(month)}') TO ('{bound(add_months(month, 1))}')"


def create_default(conn: Connection) -> None:
    """The default pair, linked by its own foreign key."""
    for table in TABLES:
        conn.execute(text(f"CREATE TABLE {leaf(table, None)} PARTITION OF {table} DEFAULT"))
    link(conn, None)


def link(conn: Connection, month: datetime | None) -> None:
    a, r = leaf("attempts", month), leaf("requests", month)
    conn.execute(
        text(
            f"ALTER TABLE {a} ADD CONSTRAINT fk_{a}_request_id FOREIGN KEY (request_id) "
            f"REFERENCES {r} (id) ON DELETE CASCADE"
        )
    )


def create_month(conn: Connection, month: datetime) -> int:
    """Create ``month``'s pair in the caller's transaction, moving the default pair's rows of
    that month into it; returns how many requests moved."""
    stash_default(conn, month)
    for table in TABLES:
        name = leaf(table, month)
        conn.execute(text(f"CREATE TABLE {name} PARTITION OF {table} {range_clause(month)}"))
    link(conn, month)
    return unstash(conn, {t: t for t in TABLES})


def stash_default(conn: Connection, month: datetime) -> None:
    """Move the default pair's rows of ``month`` into temporary tables (``moving_*``), to be
    put where they belong by :func:`unstash` in the same transaction."""
    lo, hi = bound(month), bound(add_months(month, 1))
    for table in ("attempts", "requests"):  # attempts first: the default pair's key cascades
        key, stash = KEYS[table], f"moving_{table}"
        conn.execute(text(f"CREATE TEMPORARY TABLE {stash} (LIKE {table})"))
        move = (
            f"WITH gone AS (DELETE FROM {leaf(table, None)} "  # noqa: S608 - our names
            f"WHERE {key} >= :lo AND {key} < :hi RETURNING *) "
            f"INSERT INTO {stash} SELECT * FROM gone"
        )
        conn.execute(text(move), {"lo": lo, "hi": hi})


def unstash(conn: Connection, into: dict[str, str]) -> int:
    """Insert what :func:`stash_default` took into ``into[table]`` (a row whose key is there
    already is left out); returns how many requests went in."""
    count = 0
    for table in TABLES:  # requests first: the month's attempts refer to them
        stash = f"moving_{table}"
        result = conn.execute(
            text(f"INSERT INTO {into[table]} SELECT * FROM {stash} ON CONFLICT DO NOTHING")  # noqa: S608 - our names
        )
        count = result.rowcount if table == "requests" else count
        conn.execute(text(f"DROP TABLE {stash}"))
    return count


@dataclass(frozen=True, slots=True)
class Created:
    """What :func:`ensure_months` did: the months created and the default rows they took."""

    months: tuple[datetime, ...] = ()
    moved: int = 0


def ensure_months(engine: Engine, wanted: Iterable[datetime]) -> Created:
    """Create the ``wanted`` months that do not exist yet, each in its own short transaction
    that waits at most :data:`LOCK_TIMEOUT_MS` for the parent's lock (then tries again)."""
    with engine.connect() as conn:
        have = set(months(conn))
    made: list[datetime] = []
    moved = 0
    for month in sorted(set(wanted) - have):
        moved += with_lock_retry(engine, partial(create_month, month=month))
        made.append(month)
    return Created(tuple(made), moved)


def months_ahead(now: datetime, ahead: int = AHEAD) -> list[datetime]:
    start = month_of(now)
    return [add_months(start, n) for n in range(ahead + 1)]


def with_lock_retry(engine: Engine, work: Callable[[Connection], int]) -> int:
    """Run ``work(conn)`` in a transaction whose locks wait at most ``LOCK_TIMEOUT_MS``, so
    the recorder's inserts queued behind it wait no longer; tries again on a timeout."""
    for attempt in range(LOCK_TRIES):
        try:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
                return work(conn)
        except OperationalError as exc:
            if "lock timeout" not in str(exc) or attempt == LOCK_TRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def detach_month(conn: Connection, month: datetime) -> int:
    """Detach ``month``'s pair from the parents (catalog changes only: no row is read). Both
    parents are locked first in the order the recorder writes them (requests, then
    attempts): taking attempts first would wait for a recorder transaction that waits for it."""
    conn.execute(text("LOCK TABLE requests, attempts IN ACCESS EXCLUSIVE MODE"))
    for table in ("attempts", "requests"):
        conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {leaf(table, month)}"))
    return 1


def column_list(conn: Connection, table: str) -> str:
    sql = (
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(:t) "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
    )
    return ", ".join(f'"{n}"' for n in conn.execute(text(sql), {"t": table}).scalars())


def default_rows(conn: Connection) -> int:
    """How many requests sit in the default partition (ids of no month, and unpriced rows an
    earlier version of retention kept there)."""
    sql = f"SELECT count(*) FROM {leaf('requests', None)}"  # noqa: S608 - our names
    return int(conn.execute(text(sql)).scalar_one())
