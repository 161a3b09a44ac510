"""Retention's cut of an attached month, staged so that the month is locked for milliseconds
however many rows it keeps (partitioned PostgreSQL; ``collector.db.retention`` runs it).

1. :func:`stage_month` copies the rows the month keeps (unpriced ones, and any that started
   after the cutoff), with their attempts, into a staged pair (``requests_pYYYYMM_next``,
   ``attempts_pYYYYMM_next``) while the month stays attached and in use. The staged pair gets
   the parents' keys and indexes, their foreign keys (validated), and CHECK constraints that
   match the month's range, so that attaching it later reads none of its rows. Before the
   copy's snapshot, a trigger on the month's pair starts logging the id of every row written,
   changed or deleted there from then on (``requests_pYYYYMM_touched``): a late request
   recorded into the month, a reprice of its rows.
2. :func:`catch_up` takes the logged ids off the log and copies those rows again as they are
   now (or leaves them out when they are no longer kept), in ordinary transactions, until
   few are left.
3. :func:`swap_month`, one transaction under the parents' exclusive lock: the last logged
   ids are caught up, the month's pair is detached and renamed ``*_old`` (noted with how many
   of its rows were kept, for :func:`collector.db.month_cut.count_old_pairs`), and the staged
   pair takes the month's names and is attached (or dropped, when it keeps nothing, with the
   log). The trigger moves to the new pair, logging into the log the catch-up just emptied,
   and the month is noted with the cutoff (``collector.db.month_log``: the next pass tells
   from the log, without reading the month, whether there is more to remove). From its
   commit on, the removed rows are gone from every query; the kept rows were never missing
   from any.

A pass that stops anywhere leaves the month attached and whole; the next pass clears the
stage it left (:func:`clear_stages`, which also stops the logging) and builds it again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection, Engine, text

from collector.db import month_cut, month_log, partitions
from collector.db.month_log import TRIGGER, log_table
from collector.db.partitions import KEYS, TABLES, add_months, bound, leaf

CATCH_UP_ROWS = 100  # logged ids left for the swap to copy under its lock, at most
_STAGED = re.compile(r"^(requests|attempts)_p(\d{6})_(next|touched)$")
_FENCE = re.compile(r"^(?:requests|attempts)_pdefault_not_p(\d{6})$")


def staged(table: str, month: datetime) -> str:
    """The staged table of ``table``'s ``month``."""
    return f"{leaf(table, month)}_next"


def stage_month(engine: Engine, month: datetime, cutoff: datetime) -> int:
    """Clear a stopped pass's stage of ``month``, start the log, then copy the month's kept
    rows into a staged pair (see the module); returns how many requests it holds."""
    clear_stage(engine, month)
    partitions.with_lock_retry(engine, partial(month_log.start_log, month=month))
    with engine.connect() as conn:  # one snapshot for the requests and their attempts
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            kept = _build(conn, month, cutoff)
    partitions.with_lock_retry(engine, partial(_add_foreign_keys, month=month))
    partitions.with_lock_retry(engine, partial(_fence_default, month=month))
    with engine.begin() as conn:  # reads the rows, locking nothing the recorder takes
        for table in TABLES:
            for name, _ in _foreign_keys(conn, table):
                validate = f'VALIDATE CONSTRAINT "{name}"'
                conn.execute(text(f"ALTER TABLE {staged(table, month)} {validate}"))
            fence = f"VALIDATE CONSTRAINT {_fence(table, month)}"
            conn.execute(text(f"ALTER TABLE {leaf(table, None)} {fence}"))
    return kept


def _fence(table: str, month: datetime) -> str:
    """The name of the CHECK that tells the attach the default pair holds no row of
    ``month`` (the month is attached, so its rows are routed to it meanwhile)."""
    return f"{leaf(table, None)}_not_p{month:%Y%m}"


def _fence_default(conn: Connection, month: datetime) -> int:
    """The default pair's CHECKs against ``month``'s range, unchecked (a short lock); checked
    afterwards, so that the attach need not read the default pair under its lock."""
    for table in TABLES:
        key, lo, hi = KEYS[table], bound(month), bound(add_months(month, 1))
        conn.execute(
            text(
                f"ALTER TABLE {leaf(table, None)} ADD CONSTRAINT {_fence(table, month)} "
                f"CHECK ({key} < '{lo}' OR {key} >= '{hi}') NOT VALID"
            )
        )
    return 1


def _build(conn: Connection, month: datetime, cutoff: datetime) -> int:
    """Create the staged pair and fill it with the month's kept rows as of this snapshot."""
    r, a = staged("requests", month), staged("attempts", month)
    for table in TABLES:
        conn.execute(text(f"CREATE TABLE {staged(table, month)} (LIKE {table} {month_cut.LIKE})"))
    source = leaf("requests", month)
    kept = 0
    if month_cut.keeps_any(conn, source, cutoff):
        keep, params = month_cut.keep_clause(cutoff)
        kept = month_cut.copy_rows(conn, (leaf("requests", month), r), keep, params)
        conn.execute(text(f"ANALYZE {r} (id)"))  # the plan below probes the month's key per row
        of_kept = f"request_id IN (SELECT id FROM {r})"  # noqa: S608 - our names
        month_cut.copy_rows(conn, (leaf("attempts", month), a), of_kept, {})
    for table in TABLES:
        month_cut.index_like_parent(conn, table, staged(table, month))
        key, lo, hi = KEYS[table], bound(month), bound(add_months(month, 1))
        conn.execute(
            text(
                f"ALTER TABLE {staged(table, month)} ADD CONSTRAINT {staged(table, month)}_range "
                f"CHECK ({key} IS NOT NULL AND {key} >= '{lo}' AND {key} < '{hi}')"
            )
        )
    conn.execute(
        text(
            f"ALTER TABLE {a} ADD CONSTRAINT fk_{a}_request_id FOREIGN KEY (request_id) "
            f"REFERENCES {r} (id) ON DELETE CASCADE"
        )
    )
    month_cut.note_kept(conn, r, kept)
    return kept


def _foreign_keys(conn: Connection, parent: str) -> list[tuple[str, str]]:
    """The foreign keys of ``parent`` (a partitioned table): names and definitions."""
    sql = (
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(:t) AND contype = 'f' ORDER BY conname"
    )
    return [(name, definition) for name, definition in conn.execute(text(sql), {"t": parent})]


def _add_foreign_keys(conn: Connection, month: datetime) -> int:
    """The parents' foreign keys on the staged pair, unchecked (a short lock on the tables
    they point to); checked afterwards, so that the attach adopts them instead of checking
    every kept row under its lock."""
    added = 0
    for table in TABLES:
        for name, definition in _foreign_keys(conn, table):
            add = f'ADD CONSTRAINT "{name}" {definition} NOT VALID'
            conn.execute(text(f"ALTER TABLE {staged(table, month)} {add}"))
            added += 1
    return added


def catch_up(conn: Connection, month: datetime, cutoff: datetime) -> int:
    """Copy again the rows the log names (taking them off it): each is removed from the
    stage, then copied from the month as it is now when it is still kept. Returns how many
    ids were taken."""
    r, a = staged("requests", month), staged("attempts", month)
    conn.execute(text("CREATE TEMPORARY TABLE spendscope_touched_now (id text) ON COMMIT DROP"))
    conn.execute(
        text(
            f"WITH taken AS (DELETE FROM {log_table(month)} RETURNING request_id) "  # noqa: S608 - our names
            "INSERT INTO spendscope_touched_now SELECT DISTINCT request_id FROM taken"
        )
    )
    taken = "ANY(ARRAY(SELECT id FROM spendscope_touched_now))"  # probes the keys, no scan
    ids = int(conn.execute(text("SELECT count(*) FROM spendscope_touched_now")).scalar_one())
    if ids:
        conn.execute(text(f"DELETE FROM {a} WHERE request_id = {taken}"))  # noqa: S608 - our names
        gone = conn.execute(text(f"DELETE FROM {r} WHERE id = {taken}")).rowcount  # noqa: S608
        keep, params = month_cut.keep_clause(cutoff)
        back = month_cut.copy_rows(
            conn, (leaf("requests", month), r), f"id = {taken} AND {keep}", params
        )
        month_cut.copy_rows(
            conn,
            (leaf("attempts", month), a),
            f"request_id = ANY(ARRAY(SELECT id FROM {r} WHERE id = {taken}))",  # noqa: S608 - our names
            {},
        )
        month_cut.note_kept(conn, r, _noted(conn, r) - gone + back)
    conn.execute(text("DROP TABLE spendscope_touched_now"))
    return ids


def catch_up_until_few(engine: Engine, month: datetime, cutoff: datetime) -> None:
    """:func:`catch_up` in ordinary transactions while the log holds more than
    :data:`CATCH_UP_ROWS` ids (a reprice of the month during its stage, say), so the swap's
    own catch-up, under the lock, is short."""
    while True:
        with engine.begin() as conn:
            logged = conn.execute(text(f"SELECT count(*) FROM {log_table(month)}")).scalar_one()  # noqa: S608
            if logged <= CATCH_UP_ROWS:
                return
            catch_up(conn, month, cutoff)


def swap_month(conn: Connection, month: datetime, cutoff: datetime) -> int:
    """Swap the month's pair for its staged pair in the caller's transaction (see the
    module); returns the requests in the month now. Both parents are locked first, in the
    order the recorder writes them (:func:`partitions.detach_month`), after the tables their
    foreign keys point to: the attach's adoption of the staged pair's keys drops their
    triggers there, and waiting for that lock must not happen while the parents are held."""
    conn.execute(text(f"LOCK TABLE {', '.join(_referenced(conn))} IN ACCESS EXCLUSIVE MODE"))
    conn.execute(text("LOCK TABLE requests, attempts IN ACCESS EXCLUSIVE MODE"))
    catch_up(conn, month, cutoff)
    r = staged("requests", month)
    kept = _noted(conn, r)
    for table in ("attempts", "requests"):
        conn.execute(text(f"ALTER TABLE {table} DETACH PARTITION {leaf(table, month)}"))
    for table in TABLES:
        conn.execute(text(f"DROP TRIGGER {TRIGGER} ON {leaf(table, month)}"))
        conn.execute(text(f"ALTER TABLE {leaf(table, month)} RENAME TO {leaf(table, month)}_old"))
    month_cut.note_kept(conn, f"{leaf('requests', month)}_old", kept)
    if not kept:
        _unfence(conn, month)  # the month's ids go to the default pair from now on
        conn.execute(text(f"DROP TABLE {staged('attempts', month)}, {r}, {log_table(month)}"))
        return 0
    month_log.note_cut(conn, month, r, cutoff)  # the log is empty: every row is kept now
    for table in TABLES:  # requests first: the month's attempts refer to them
        conn.execute(text(f"ALTER TABLE {staged(table, month)} RENAME TO {leaf(table, month)}"))
        conn.execute(
            text(
                f"ALTER TABLE {table} ATTACH PARTITION {leaf(table, month)} "
                f"{partitions.range_clause(month)}"
            )
        )
        conn.execute(
            text(f"ALTER TABLE {leaf(table, month)} DROP CONSTRAINT {staged(table, month)}_range")
        )
    month_log.log_writes(conn, month)
    _unfence(conn, month)
    return kept


def _referenced(conn: Connection) -> list[str]:
    """The tables the parents' foreign keys point to (``api_keys``, ``projects``)."""
    sql = (
        "SELECT DISTINCT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid = ANY(ARRAY[to_regclass('requests'), to_regclass('attempts')]) ORDER BY 1"
    )
    return list(conn.execute(text(sql)).scalars())


def _unfence(conn: Connection, month: datetime) -> None:
    for table in TABLES:
        drop = f"DROP CONSTRAINT IF EXISTS {_fence(table, month)}"
        conn.execute(text(f"ALTER TABLE {leaf(table, None)} {drop}"))


def _noted(conn: Connection, table: str) -> int:
    kept = month_cut.kept_note(conn, table)
    if kept is None:
        raise RuntimeError(f"{table} has no kept count: its stage is not whole")
    return kept


def staged_months(conn: Connection) -> list[datetime]:
    """Months with a stage left (a staged table, a log, the trigger on their pair, or a CHECK
    of theirs on the default pair: one left there would refuse the month's rows once the
    month is gone)."""
    tables = (
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
        "AND c.relnamespace = to_regnamespace(current_schema())"
    )
    names = [n for n in conn.execute(text(tables)).scalars() if _STAGED.match(n)]
    triggers = (
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = :name AND c.relnamespace = to_regnamespace(current_schema())"
    )
    names += [f"{n}_touched" for n in conn.execute(text(triggers), {"name": TRIGGER}).scalars()]
    found = {m.group(2) for n in names if (m := _STAGED.match(n)) and m.group(3) == "next"}
    logged = {m.group(2) for n in names if (m := _STAGED.match(n)) and m.group(3) != "next"}
    # a log and trigger alone are a stage's, unless a cut left them (month_log)
    found |= {yyyymm for yyyymm in logged - found if not _cut(conn, yyyymm)}
    fences = (
        "SELECT conname FROM pg_constraint WHERE contype = 'c' "
        "AND conrelid = ANY(ARRAY[to_regclass(:r), to_regclass(:a)])"
    )
    defaults = {"r": leaf("requests", None), "a": leaf("attempts", None)}
    found |= {
        m.group(1) for n in conn.execute(text(fences), defaults).scalars() if (m := _FENCE.match(n))
    }
    return sorted(datetime.strptime(f"{m}01", "%Y%m%d").replace(tzinfo=UTC) for m in found)


def _cut(conn: Connection, yyyymm: str) -> bool:
    month = datetime.strptime(f"{yyyymm}01", "%Y%m%d").replace(tzinfo=UTC)
    return month_log.cut_at(conn, month) is not None


def clear_stage(engine: Engine, month: datetime) -> None:
    """Stop the log of ``month`` and drop its staged tables, in one transaction: its cut note,
    its triggers (a trigger without its log table would fail the recorder's writes into the
    month, so the two go together even when two passes clear the same stage), its CHECKs on
    the default pair, the staged tables and the log."""
    partitions.with_lock_retry(engine, partial(_clear, month=month))


def _clear(conn: Connection, month: datetime) -> int:
    _drop_triggers(conn, month)
    names = ", ".join([*(staged(t, month) for t in ("attempts", "requests")), log_table(month)])
    conn.execute(text(f"DROP TABLE IF EXISTS {names}"))
    return 1


def clear_stages(engine: Engine) -> tuple[datetime, ...]:
    """Clear every stage a stopped pass left; returns their months."""
    with engine.connect() as conn:
        months = staged_months(conn)
    for month in months:
        clear_stage(engine, month)
    return tuple(months)


def _drop_triggers(conn: Connection, month: datetime) -> int:
    """The stage's triggers on the month's pair (when there are any: dropping one locks the
    table) and its CHECKs on the default pair."""
    sql = (
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = :name AND c.oid = ANY(ARRAY[to_regclass(:r), to_regclass(:a)])"
    )
    names = {"name": TRIGGER, "r": leaf("requests", month), "a": leaf("attempts", month)}
    month_log.forget_cut(conn, month)  # the log is about to go: the plain probe reads it again
    for table in conn.execute(text(sql), names).scalars():
        conn.execute(text(f"DROP TRIGGER {TRIGGER} ON {table}"))
    fences = (
        "SELECT count(*) FROM pg_constraint WHERE conname = ANY(:names) "
        "AND conrelid = ANY(ARRAY[to_regclass(:r), to_regclass(:a)])"
    )
    defaults = {"r": leaf("requests", None), "a": leaf("attempts", None)}
    wanted = [_fence(t, month) for t in TABLES]
    if conn.execute(text(fences), {"names": wanted, **defaults}).scalar_one():
        _unfence(conn, month)
    return 1


def drop_leftovers(conn: Connection) -> int:
    """Drop the stages' and the cut months' tables and the trigger's function, once the
    partitioned tables (and with them the months' triggers and the default's CHECKs) are
    gone: a downgrade to plain tables. Returns how many tables went."""
    tables = (
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
        "AND c.relnamespace = to_regnamespace(current_schema())"
    )
    names = [n for n in conn.execute(text(tables)).scalars() if _STAGED.match(n)]
    if names:
        conn.execute(text(f"DROP TABLE {', '.join(names)}"))
    conn.execute(text(f"DROP FUNCTION IF EXISTS {month_log.FUNCTION}()"))
    return len(names)
