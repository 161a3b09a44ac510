"""The log of writes to a month's pair, and how retention tells, without reading the month,
that a month it already cut has nothing more to remove (partitioned PostgreSQL).

A trigger on the month's pair (``requests_pYYYYMM``, ``attempts_pYYYYMM``) logs the request
id of every row inserted, updated or deleted there into ``requests_pYYYYMM_touched``. A stage
starts it (``collector.db.month_stage``: its catch-up reads the log), and the swap that ends
the stage keeps it on the month's new pair, with the log empty, and notes on the month's
requests table the cutoff the cut used (a table comment, ``spendscope: cut at …``).

At that commit every row of the month is one retention keeps for that cutoff: unpriced, or
started at or after it. Such a row stays kept until it is written again (a reprice prices it),
and then its id is logged. So, for a later cutoff, the month holds a row to remove only when a
logged row is no longer kept, or when a priced row kept only for its start time now starts
before the cutoff. :func:`has_droppable` asks exactly that, through the month's key and its
``started_at`` index, where the plain probe (:func:`collector.db.month_cut.has_droppable`)
reads every kept row (2.3 M rows of two cut months took 1.46 s at 50 M requests). The note
names the log's oid: a month with no note, whose log was made again since (by an older
version's stage, say) or whose trigger is missing, gets the plain probe, and a pass clears
its log as a stage's. A stage of the month removes the note before its catch-up takes ids off
the log, so a stage that stops leaves a month the plain probe reads again; a probe that sees
the note change while it runs (a stage began) reads the month too. The log grows with the
writes to a cut month until its next cut (a reprice of its kept rows makes one).
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Connection, text

from collector.db import month_cut
from collector.db.partitions import KEPT, KEYS, TABLES, leaf

TRIGGER = "spendscope_touched"
FUNCTION = "spendscope_retention_touched"
_CUT_NOTE = re.compile(r"^spendscope: cut at (\d{4}-\d\d-\d\dT[\d:.]+) log (\d+)$")
_STATE = (  # the note, the log's oid now, and how many of the pair's leaves log into it
    "SELECT obj_description(to_regclass(:r), 'pg_class'), to_regclass(:log)::oid, "
    "(SELECT count(*) FROM pg_trigger WHERE tgname = :name "
    "AND tgrelid = ANY(ARRAY[to_regclass(:r), to_regclass(:a)]))"
)
_LOG_ROW = """
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  EXECUTE format('INSERT INTO %I.%I (request_id) VALUES ($1)', TG_TABLE_SCHEMA, TG_ARGV[0])
    USING (CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END) ->> TG_ARGV[1];
  RETURN NULL;
END
$body$
"""


def log_table(month: datetime) -> str:
    """Where the trigger logs the ids of ``month``'s rows written."""
    return f"{leaf('requests', month)}_touched"


def start_log(conn: Connection, month: datetime) -> int:
    """The log table and the trigger on the month's pair (a short lock on each leaf)."""
    conn.execute(text(_LOG_ROW.format(function=FUNCTION)))
    conn.execute(text(f"CREATE TABLE {log_table(month)} (request_id text)"))
    log_writes(conn, month)
    return 1


def log_writes(conn: Connection, month: datetime) -> None:
    """The trigger on the month's pair, into its existing log."""
    for table in TABLES:
        arguments = f"'{log_table(month)}', '{KEYS[table]}'"
        conn.execute(
            text(
                f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE "
                f"ON {leaf(table, month)} FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({arguments})"
            )
        )


def note_cut(conn: Connection, month: datetime, table: str, cutoff: datetime) -> None:
    """Mark ``table`` (the month's requests table-to-be) with the cutoff its cut kept rows
    for and the oid of the month's log: a log dropped and made again by anything else (a
    stage of an older version, say) is then never mistaken for the one the cut emptied."""
    log_oid = conn.execute(text("SELECT to_regclass(:log)::oid"), {"log": log_table(month)})
    at = month_cut.stored_time(cutoff).isoformat()
    note = f"spendscope: cut at {at} log {log_oid.scalar_one()}"
    conn.execute(text(f"COMMENT ON TABLE {table} IS '{note}'"))


def cut_at(conn: Connection, month: datetime) -> datetime | None:
    """The cutoff of ``month``'s last cut (naive UTC, as ``started_at`` stores time), when
    the log it emptied is still there with the trigger writing to it from both leaves; else
    None (no cut noted, or its log is not whole: the month is read)."""
    names = {"r": leaf("requests", month), "a": leaf("attempts", month)}
    names |= {"log": log_table(month), "name": TRIGGER}
    note, log_oid, triggers = conn.execute(text(_STATE), names).one()
    found = _CUT_NOTE.match(note or "")
    if found is None or log_oid is None or int(found.group(2)) != log_oid or triggers != 2:
        return None
    return datetime.fromisoformat(found.group(1))


def forget_cut(conn: Connection, month: datetime) -> None:
    """Remove the month's cut note, whatever it says (before anything takes ids off its
    log)."""
    table = leaf("requests", month)
    note = conn.execute(text("SELECT obj_description(to_regclass(:t), 'pg_class')"), {"t": table})
    if (note.scalar_one() or "").startswith("spendscope: cut at "):
        conn.execute(text(f"COMMENT ON TABLE {table} IS NULL"))


def has_droppable(conn: Connection, month: datetime, cutoff: datetime) -> bool:
    """Whether ``month``'s partition holds a row retention would remove at ``cutoff``:
    through the log and two index probes for a month cut before (see the module), else the
    plain probe."""
    r = leaf("requests", month)
    since = cut_at(conn, month)
    if since is None:
        return month_cut.has_droppable(conn, month, cutoff)
    # each logged id is looked up by the key (OFFSET 0 keeps the filter out of the lookup:
    # pushed in, the planner may read the month's started_at index below the cutoff instead)
    logged = (
        f"SELECT 1 FROM {log_table(month)} l, LATERAL (SELECT cost_source, started_at FROM {r} "  # noqa: S608 - our names
        f"WHERE id = l.request_id OFFSET 0) m WHERE NOT ({KEPT} OR started_at >= :cutoff)"
    )
    sql = (
        f"SELECT EXISTS ({logged}) OR EXISTS (SELECT 1 FROM {r} "  # noqa: S608 - our names
        f"WHERE started_at >= :since AND started_at < :cutoff AND NOT ({KEPT}))"
    )
    params = {"cutoff": month_cut.stored_time(cutoff), "since": since}
    found = bool(conn.execute(text(sql), params).scalar_one())
    if cut_at(conn, month) != since:  # a stage began meanwhile: its catch-up may take ids
        return month_cut.has_droppable(conn, month, cutoff)
    return found
