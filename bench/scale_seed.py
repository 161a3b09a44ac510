"""Seed a PostgreSQL database with tens of millions of requests, fast (for bench_scale.py).

The first day (September 1) is written through the recorder's own write path
(``write_batch``: rows, attempts and every rollup, exactly as a gateway's writer stores them,
from ``seed.py``'s realistic traffic). Every later day is that day copied server-side, one
``INSERT … SELECT`` per table and day: each timestamp moved by whole days, each request id
given the time part of its new moment (so the row lands in its month's partition, as a live
id would) and its random part kept; the attempts follow their request. The rollups of a copied
day are the first day's rollup rows moved by the same days: the sums of identical rows a
whole number of days later, so they are what the recorder would have written for them.
"""

from __future__ import annotations

import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from collector.db import make_engine, partitions, upgrade_head
from collector.recorder import write_batch
from collector.ulid import ALPHABET

sys.path.insert(0, str(Path(__file__).resolve().parent))
import seed  # bench/seed.py, a sibling module

START = datetime(2026, 9, 1, tzinfo=UTC)
DAY_MS = 86_400_000
# the seeded day's rows, kept aside as the source of every copy
STAGED = "scale_seed_"
_ULID_MS = " + ".join(
    f"((strpos('{ALPHABET}', substr(id, {i + 1}, 1)) - 1)::bigint << {5 * (9 - i)})"
    for i in range(10)
)
_ULID_TIME = " || ".join(
    f"substr('{ALPHABET}', ((ms >> {5 * (9 - i)}) & 31)::int + 1, 1)" for i in range(10)
)
FUNCTIONS = (
    f"CREATE OR REPLACE FUNCTION pg_temp.ulid_ms(id text) RETURNS bigint AS $$ SELECT {_ULID_MS} "
    "$$ LANGUAGE sql IMMUTABLE STRICT",
    "CREATE OR REPLACE FUNCTION pg_temp.ulid_time(ms bigint) RETURNS text AS $$ "
    f"SELECT {_ULID_TIME} $$ LANGUAGE sql IMMUTABLE STRICT",
    "CREATE OR REPLACE FUNCTION pg_temp.ulid_shift(id text, days int) RETURNS varchar AS $$ "
    f"SELECT pg_temp.ulid_time(pg_temp.ulid_ms(id) + days * {DAY_MS}::bigint) || substr(id, 11) "
    "$$ LANGUAGE sql IMMUTABLE STRICT",
)
ID_COLUMNS = {"requests": "id", "attempts": "request_id"}


@dataclass
class Seeded:
    requests: int
    days: int
    first_day_s: float
    copies_s: float
    vacuum_s: float


def requests_in(engine: Engine) -> int:
    with engine.connect() as conn:
        exists = conn.scalar(text("SELECT to_regclass('requests') IS NOT NULL"))
        return int(conn.scalar(text("SELECT count(*) FROM requests")) or 0) if exists else 0


def _tables_with_rows(conn: Connection) -> list[str]:
    """The tables the first day filled, apart from tenants: what every copied day needs."""
    names = conn.scalars(
        text(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = "
            "to_regnamespace(current_schema()) AND c.relkind IN ('r', 'p') "
            "AND NOT c.relispartition AND c.relname NOT LIKE :staged"
        ),
        {"staged": f"{STAGED}%"},
    ).all()
    tenants = {"projects", "api_keys", "alembic_version", "maintenance_runs"}
    filled = [
        n
        for n in names
        if n not in tenants and conn.scalar(text(f'SELECT EXISTS (SELECT 1 FROM "{n}")'))
    ]
    return sorted(filled, key=lambda n: (n != "requests", n))  # attempts need their request


def _columns(conn: Connection, table: str) -> list[tuple[str, str]]:
    return [
        (str(name), str(kind))
        for name, kind in conn.execute(
            text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t "
                "AND is_generated = 'NEVER' AND (column_default IS NULL "
                "OR column_default NOT LIKE 'nextval(%')"
                " ORDER BY ordinal_position"
            ),
            {"t": table},
        )
    ]


def _copy_sql(conn: Connection, table: str, skip_present: bool = False) -> str:
    """``INSERT … SELECT`` of the staged day moved by ``:days`` days (a bound parameter);
    ``skip_present``: rows already there (by key) are left as they are."""
    out, selected = [], []
    for name, kind in _columns(conn, table):
        out.append(f'"{name}"')
        if name == ID_COLUMNS.get(table):
            selected.append(f'pg_temp.ulid_shift("{name}", :days)')
        elif kind.startswith("timestamp"):
            selected.append(f'"{name}" + make_interval(days => :days)')
        elif kind == "date":
            selected.append(f'"{name}" + :days')
        else:
            selected.append(f'"{name}"')
    order = f' ORDER BY "{ID_COLUMNS[table]}"' if table in ID_COLUMNS else ""
    skip = " ON CONFLICT DO NOTHING" if skip_present else ""
    return (
        f'INSERT INTO "{table}" ({", ".join(out)}) '
        f'SELECT {", ".join(selected)} FROM "{STAGED}{table}"{order}{skip}'
    )


def _first_day(engine: Engine, per_day: int) -> None:
    rng = random.Random(11)
    users = seed.setup_tenants(engine, rng)
    batch: list[seed.UsageEvent] = []
    for event in seed.events(per_day, START, 1, rng, users):
        batch.append(event)
        if len(batch) == 5000:
            write_batch(engine, batch)
            batch.clear()
    write_batch(engine, batch)


def _copy_day(engine: Engine, tables: list[str], day: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for function in FUNCTIONS:
            conn.execute(text(function))
        for table in tables:
            conn.execute(text(_copy_sql(conn, table)), {"days": day})


def _copy_days(
    engine: Engine, tables: list[str], days: int, per_day: int, workers: int, began: float
) -> None:
    """Days 2..``days``, ``workers`` days at a time (one connection each), in day order."""
    done = 1
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(lambda day: _copy_day(engine, tables, day), range(1, days)):
            done += 1
            if done % 5 == 0 or done == days:
                took = time.perf_counter() - began
                print(
                    f"  day {done:>3}/{days}: ~{done * per_day:,} requests, {took:,.0f} s",
                    flush=True,
                )


def seed_database(url: str, total: int, days: int, workers: int = 2) -> Seeded:
    """``total`` requests over ``days`` days from September 1 into an empty database at ``url``."""
    upgrade_head(url)
    engine = make_engine(url)
    try:
        months = sorted(
            {partitions.month_of(START)} | {partitions.add_months(START, n) for n in range(4)}
        )
        partitions.ensure_months(engine, months)
        began = time.perf_counter()
        _first_day(engine, total // days)
        first = time.perf_counter() - began
        print(
            f"  first day through the recorder: {requests_in(engine):,} requests in {first:.1f} s",
            flush=True,
        )
        began = time.perf_counter()
        with engine.begin() as conn:
            tables = _tables_with_rows(conn)
            for table in tables:
                conn.execute(text(f'CREATE UNLOGGED TABLE "{STAGED}{table}" AS TABLE "{table}"'))
        _copy_days(engine, tables, days, total // days, workers, began)
        copies = time.perf_counter() - began
        with engine.begin() as conn:
            for table in tables:
                conn.execute(text(f'DROP TABLE "{STAGED}{table}"'))
        began = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        vacuum = time.perf_counter() - began
        return Seeded(requests_in(engine), days, first, copies, vacuum)
    finally:
        engine.dispose()


def _restore_day(engine: Engine, day: int) -> None:
    with engine.begin() as conn:
        for function in FUNCTIONS:
            conn.execute(text(function))
        for table in ("requests", "attempts"):
            conn.execute(text(_copy_sql(conn, table, skip_present=True)), {"days": day})


def restore_month(url: str, month: datetime, workers: int = 2) -> int:
    """Put back the raw rows retention removed from ``month`` (requests and attempts; the
    rollups were kept): each day is the next month's first day moved back, which is the row
    the seed wrote (every seeded day is the same day's copy, ids included), rows still
    there left as they are; ``workers`` days at a time. Returns the requests put back.
    Not after ``bench_scale.py``'s reprice phase: it moved the month's rollups, which the
    seeded (unpriced) rows put back would no longer match."""
    engine = make_engine(url)
    after = partitions.add_months(month, 1)
    days = (after - month).days
    try:
        partitions.ensure_months(engine, [month])
        before = requests_in(engine)
        with engine.begin() as conn:
            conn.execute(text(f'DROP TABLE IF EXISTS "{STAGED}requests", "{STAGED}attempts"'))
            conn.execute(
                text(
                    f'CREATE UNLOGGED TABLE "{STAGED}requests" AS SELECT * FROM requests '
                    "WHERE started_at >= :a AND started_at < :a + interval '1 day'"
                ),
                {"a": after.replace(tzinfo=None)},
            )
            conn.execute(
                text(
                    f'CREATE UNLOGGED TABLE "{STAGED}attempts" AS SELECT * FROM attempts '
                    f'WHERE request_id IN (SELECT id FROM "{STAGED}requests")'
                )
            )
        began = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            shifts = range(-days, 0)
            for done, _ in enumerate(pool.map(lambda d: _restore_day(engine, d), shifts), 1):
                print(
                    f"  {month:%B}: {done} days, {time.perf_counter() - began:,.0f} s", flush=True
                )
        with engine.begin() as conn:
            conn.execute(text(f'DROP TABLE "{STAGED}requests", "{STAGED}attempts"'))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in ("requests", "attempts"):
                conn.execute(text(f"VACUUM ANALYZE {partitions.leaf(table, month)}"))
        return requests_in(engine) - before
    finally:
        engine.dispose()
