"""Retention's cut of a detached month, and the release of every cut's old pair (partitioned
PostgreSQL; ``collector.db.partitions``).

An attached month is cut by ``collector.db.month_stage``, which swaps it for a staged copy of
its kept rows. A month left detached (by an earlier version's retention pass that stopped
between its detach and its cut) is cut here in one transaction (:func:`cut_month`): the rows
it must keep — unpriced ones, and any that started after the cutoff; two index probes tell
first whether there are any, so a month keeping none is never read — are copied with their
attempts into a fresh pair of tables of the month's name, which get the parents' keys and
indexes (built in bulk over those rows) and the month's own foreign key; then, under short
locks, rows written meanwhile with the month's ids (they went to the default pair while the
month was detached) are moved in, and the new pair is attached.

The old pair, renamed ``*_old`` and marked with how many of its rows the cut kept (a table
comment, written in the cut's transaction), is released afterwards, in steps that hold no
lock the recorder waits for: its removed requests are counted (:func:`count_old_pairs`,
exact: the old table's rows less the kept ones; reading a month of 16 M requests takes
seconds, which is why the cut itself counts nothing), its foreign keys dropped
(:func:`unlink_old_pairs`: that locks the tables they point to, ``api_keys`` and
``projects``, against the recorder's key checks, so the lock is taken alone and briefly),
then its tables (:func:`drop_old_pairs`), whose files' removal (11 GB for such a month)
holds no lock the recorder needs.
A crash at any point leaves either a detached month (the next pass cuts it) or a stale
``*_old`` pair (the next pass counts and drops it); no row is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Connection, text

from collector.db.partitions import (
    KEPT,
    TABLES,
    column_list,
    leaf,
    link,
    range_clause,
    stash_default,
    unstash,
)

_KEEP = f"({KEPT} OR started_at >= :cutoff)"  # a row retention keeps, for a cutoff
_OLD = re.compile(r"^(requests|attempts)_p\d{6}_old$")
_INDEX_HEAD = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON ONLY \S+ ")
_KEPT_NOTE = re.compile(r"^spendscope: kept (\d+)$")
LIKE = "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION"


def stored_time(moment: datetime) -> datetime:
    """``moment`` as ``started_at`` stores time (naive UTC): an aware one would be compared
    in the session's time zone."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _at(cutoff: datetime | None) -> datetime | None:
    return None if cutoff is None else stored_time(cutoff)


def has_droppable(conn: Connection, month: datetime, cutoff: datetime) -> bool:
    """Whether ``month``'s partition holds a row retention would remove (a month already cut
    down to its kept rows holds none, and is left alone)."""
    sql = f"SELECT EXISTS (SELECT 1 FROM {leaf('requests', month)} WHERE NOT {_KEEP})"  # noqa: S608 - our names
    return bool(conn.execute(text(sql), {"cutoff": _at(cutoff)}).scalar_one())


def cut_month(conn: Connection, month: datetime, cutoff: datetime | None) -> int:
    """Cut a detached month down to its kept rows and attach it again (see the module);
    returns the requests in the month now. ``cutoff`` None keeps every row. The old pair is
    left as ``*_old``, for :func:`count_old_pairs` and :func:`drop_old_pairs`.

    Everything up to the attach works on tables nobody else can see. Then the default pair
    is locked (ACCESS EXCLUSIVE: the dashboard's unpruned reads and a write of an id of no
    month wait, for milliseconds), its rows of the month are moved in, and the attach takes
    the parents' SHARE UPDATE EXCLUSIVE lock, which the recorder's inserts do not wait for.
    The caller's lock timeout (:func:`partitions.with_lock_retry`) bounds each wait."""
    r, a = leaf("requests", month), leaf("attempts", month)
    for table in (r, a):
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_old"))
    for table in TABLES:
        conn.execute(text(f"CREATE TABLE {leaf(table, month)} (LIKE {table} {LIKE})"))
    kept = _copy_kept(conn, month, cutoff) if keeps_any(conn, f"{r}_old", cutoff) else 0
    note_kept(conn, f"{r}_old", kept)
    for table in TABLES:
        index_like_parent(conn, table, leaf(table, month))
    link(conn, month)
    # Rows of this month written while it was detached sit in the default pair: they move
    # in (the attach would refuse the month while the default holds any).
    defaults = ", ".join(leaf(t, None) for t in TABLES)
    conn.execute(text(f"LOCK TABLE {defaults} IN ACCESS EXCLUSIVE MODE"))
    stash_default(conn, month)
    arrived = unstash(conn, {t: leaf(t, month) for t in TABLES})
    if not kept + arrived:
        conn.execute(text(f"DROP TABLE {a}, {r}"))
        return 0
    for table in TABLES:
        attach = f"ALTER TABLE {table} ATTACH PARTITION {leaf(table, month)} {range_clause(month)}"
        conn.execute(text(attach))
    return kept + arrived


def keeps_any(conn: Connection, requests: str, cutoff: datetime | None) -> bool:
    """Whether the month's ``requests`` table holds a row to keep: two probes through its
    indexes (the partial unpriced one, then ``started_at``), where the copy's filter would
    read it all."""
    if cutoff is None:
        return True
    sql = (
        f"SELECT EXISTS (SELECT 1 FROM {requests} WHERE {KEPT}) "  # noqa: S608 - our names
        f"OR EXISTS (SELECT 1 FROM {requests} WHERE started_at >= :cutoff)"
    )
    return bool(conn.execute(text(sql), {"cutoff": _at(cutoff)}).scalar_one())


def keep_clause(cutoff: datetime | None) -> tuple[str, dict[str, object]]:
    """The condition of a kept request, with its parameters (``cutoff`` None: every row)."""
    return ("TRUE", {}) if cutoff is None else (_KEEP, {"cutoff": _at(cutoff)})


def copy_rows(
    conn: Connection, tables: tuple[str, str], where: str, params: Mapping[str, object]
) -> int:
    """Copy the rows of ``tables[0]`` matching ``where`` into ``tables[1]``, a table of the
    same columns (by name); returns how many."""
    source, target = tables
    columns = column_list(conn, target)
    sql = f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {source} WHERE {where}"  # noqa: S608 - our names
    return int(conn.execute(text(sql), params).rowcount)


def _copy_kept(conn: Connection, month: datetime, cutoff: datetime | None) -> int:
    """Copy the old month's kept requests, then their attempts, into the new pair."""
    r, a = leaf("requests", month), leaf("attempts", month)
    keep, params = keep_clause(cutoff)
    kept = copy_rows(conn, (f"{r}_old", r), keep, params)
    conn.execute(text(f"ANALYZE {r} (id)"))  # the plan below probes the old key per kept row
    of_kept = f"request_id IN (SELECT id FROM {r})"  # noqa: S608 - our names
    copy_rows(conn, (f"{a}_old", a), of_kept, {})
    return kept


def index_like_parent(conn: Connection, parent: str, table: str) -> None:
    """Give ``table`` the keys and indexes of ``parent`` (a partitioned table), so that
    attaching it adopts them instead of building them under the attach's locks."""
    keys = (
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(:t) AND contype IN ('p', 'u') ORDER BY conname"
    )
    for definition in conn.execute(text(keys), {"t": parent}).scalars():
        conn.execute(text(f"ALTER TABLE {table} ADD {definition}"))
    indexes = (
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = to_regclass(:t) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
        "ORDER BY i.indexrelid"
    )
    for definition in conn.execute(text(indexes), {"t": parent}).scalars():
        create, n = _INDEX_HEAD.subn(rf"CREATE \1INDEX ON {table} ", definition)
        if n != 1:
            raise ValueError(f"an index of {parent} this code cannot copy: {definition}")
        conn.execute(text(create))


def _old_pairs(conn: Connection) -> list[str]:
    sql = (
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
        "AND c.relnamespace = to_regnamespace(current_schema()) AND c.relname LIKE '%\\_old'"
    )
    return sorted(n for n in conn.execute(text(sql)).scalars() if _OLD.match(n))


def count_old_pairs(conn: Connection) -> int:
    """The requests the ``*_old`` pairs' cuts removed: each old requests table's rows less
    the ones its cut kept (read from its comment; a table without one, which no cut
    marked, counts whole). Exact; it reads tables nothing else uses."""
    removed = 0
    for name in _old_pairs(conn):
        if not name.startswith("requests_"):
            continue
        rows = int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())  # noqa: S608 - our names
        removed += rows - (kept_note(conn, name) or 0)
    return removed


def note_kept(conn: Connection, table: str, kept: int) -> None:
    """Mark ``table`` with how many rows its cut kept (read back by :func:`kept_note`)."""
    conn.execute(text(f"COMMENT ON TABLE {table} IS 'spendscope: kept {kept}'"))


def kept_note(conn: Connection, table: str) -> int | None:
    """How many rows ``table``'s cut kept, from its comment (None: no cut noted one)."""
    note = conn.execute(text("SELECT obj_description(to_regclass(:t), 'pg_class')"), {"t": table})
    kept = _KEPT_NOTE.match(note.scalar_one() or "")
    return int(kept.group(1)) if kept else None


def unlink_old_pairs(conn: Connection) -> int:
    """Drop the foreign keys of the ``*_old`` tables, so that dropping the tables (and
    removing their files, gigabytes at a large month) locks nothing the recorder uses: a
    foreign key's drop locks the table it points to (``api_keys``, ``projects``), here only
    for this short transaction. Returns how many keys went."""
    sql = (
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY(CAST(:names AS regclass[])) ORDER BY 1, 2"
    )
    names = _old_pairs(conn)
    if not names:
        return 0
    keys = conn.execute(text(sql), {"names": names}).all()
    for table, name in keys:
        conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    return len(keys)


def drop_old_pairs(conn: Connection) -> int:
    """Drop the ``*_old`` tables cuts left behind (after their commit, or a crash); returns
    how many went."""
    names = _old_pairs(conn)
    if names:
        conn.execute(text(f"DROP TABLE {', '.join(names)}"))
    return len(names)
