"""The writer process runs without SQLAlchemy, from a plan the gateway derives from the schema:
it must store exactly what ``write_batch`` on an engine stores, and its bindings must give
exactly what the column types give."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.dialects import sqlite

from collector.db import make_engine
from collector.dbapi import ConnectSpec
from collector.errors import StorageError
from collector.recorder import (
    AttemptEvent,
    PoisonBatch,
    UsageEvent,
    WriterProcess,
    _batch,
    _binds,
    write_batch,
)
from collector.recorder import writer as writer_module
from collector.recorder.writer import connect_spec, write_plan, write_plan_for_url
from tests.factories import make_event
from tests.recorder.conftest import Outage
from tests.recorder.test_recorder import counts
from tests.recorder.test_writer_process import _varied
from tests.support.templates import migrate


def _events() -> list[UsageEvent]:
    t = datetime(2026, 11, 30, 22, 59, 59, 999_999, tzinfo=UTC)
    more = [
        make_event(
            started_at=t + timedelta(seconds=i * 97),
            outcome=("success", "upstream_error", "timeout")[i % 3],
            error_type=None if i % 3 == 0 else "server_error",
            http_status=200 if i % 3 == 0 else 502,
            tags={"team": f"t{i % 2}"},
            batch=i % 3 == 0,
            service_tier=("flex", None, "default")[i % 3],
            cost_usd=Decimal(i) / Decimal(7000),
            ttft_ms=None if i % 2 else 12.5 + i,
            attempts=[
                AttemptEvent(1, t, 3.0 + i, "gpt-4o-mini", "primary", 500, "server_error", "x"),
                AttemptEvent(2, t + timedelta(milliseconds=40), 9.0, cost_usd=Decimal("0.001")),
            ],
        )
        for i in range(30)
    ]
    local = datetime(2026, 11, 30, 6, tzinfo=timezone(timedelta(hours=-5)))
    return [*_varied(), *more, make_event(started_at=local, metadata={"a": {"b": [1, 2.5]}})]


def _tables(url: str) -> list[str]:
    plan = write_plan_for_url(url)
    return [plan.requests.name, plan.attempts.name, *(t.name for t in plan.rollups)]


def _snapshot(engine: Engine, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the writer's tables, as the database holds them."""
    out = {}
    with engine.connect() as conn:
        for table in tables:
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(row) for row in rows), key=repr)
    return out


def test_the_child_stores_exactly_what_write_batch_stores(
    migrated_url: str, engine: Engine
) -> None:
    events, tables = _events(), _tables(migrated_url)
    writer = WriterProcess(migrated_url)
    writer.start()
    try:
        assert writer.write(events) == len(events)
    finally:
        writer.stop()
    through_child = _snapshot(engine, tables)
    assert len(through_child["requests"]) == len(events)
    assert len(through_child["attempts"]) == sum(len(e.attempts) for e in events)
    with engine.begin() as conn:
        for table in reversed(tables):
            conn.execute(text(f'DELETE FROM "{table}"'))
    assert write_batch(engine, events) == len(events)
    assert _snapshot(engine, tables) == through_child


def test_the_writer_process_loads_no_sqlalchemy(migrated_url: str) -> None:
    """Its memory is the point: the live child has none of SQLAlchemy's (or the gateway's)
    modules, whose compiled parts would show in its memory map."""
    writer = WriterProcess(migrated_url)
    writer.start()
    try:
        assert writer.write([make_event()]) == 1
        assert writer.pid is not None
        maps = Path(f"/proc/{writer.pid}/maps").read_text()
    finally:
        writer.stop()
    assert "_sqlite3" in maps or "psycopg" in maps  # the map lists the modules it loaded
    for package in ("sqlalchemy", "pydantic", "aiohttp", "fastapi", "uvloop", "tiktoken"):
        assert package not in maps, package


def test_the_child_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, collector.recorder._child, collector.recorder._batch;"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # orjson is the events' one codec (journal, spool, pipe), so the child decodes with it
    for package in ("sqlalchemy", "pydantic", "psycopg"):
        assert f"'{package}'" not in out.stdout, package


def _no_fast_path(full: Any) -> Any:
    return lambda column: [None if v is None else full(v) for v in column]


def test_a_binding_that_differs_from_its_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's checks can fail: money that skips quantizing is caught on its samples."""
    monkeypatch.setitem(_binds._FULL, ("money", "sqlite"), lambda v: int(Decimal(v).scaleb(10)))
    monkeypatch.setitem(_binds._COLUMNS, ("money", "sqlite"), _no_fast_path)
    monkeypatch.setattr(writer_module, "_PLANS", {})
    with pytest.raises(AssertionError, match="cost_usd"):
        write_plan(sqlite.dialect())


def test_bindings_refuse_what_the_types_refuse() -> None:
    plan = write_plan(sqlite.dialect())
    assert dict(zip(plan.requests.columns, plan.requests.kinds, strict=True))["cost_usd"] == "money"
    utc = _binds.conversion("utc", "sqlite")
    with pytest.raises(ValueError, match="naive"):
        utc(datetime(2026, 1, 1))
    assert utc(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-01-01 00:00:00.000000"
    )
    with pytest.raises(TypeError):
        _binds.conversion("bool", "postgresql")(2)


def test_connect_specs(tmp_path: Path) -> None:
    spec = connect_spec(f"sqlite:///{tmp_path / 'a.db'}", busy_timeout_ms=1500, cache_kib=2048)
    assert spec == ConnectSpec(
        "sqlite",
        (str(tmp_path / "a.db"),),
        {"check_same_thread": False, "timeout": 1.5},
        1500,
        2048,
        str(tmp_path / "a.db"),
    )
    assert connect_spec("sqlite://").wal_path is None
    assert connect_spec("sqlite:///:memory:").wal_path is None
    pg = connect_spec("postgresql://u:p@db.example:6543/spend?sslmode=require")
    assert pg.driver == "psycopg"
    assert pg.kwargs == {
        "host": "db.example", "port": 6543, "dbname": "spend", "user": "u", "password": "p",
        "sslmode": "require",
    }  # fmt: skip
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        connect_spec("mysql+pymysql://root@localhost/x")


def test_a_database_the_writer_cannot_open_is_a_storage_error() -> None:
    writer = WriterProcess("mysql+pymysql://root@localhost/x")
    with pytest.raises(StorageError, match="cannot start"):
        writer.write([make_event()])
    writer.stop()


def test_a_batch_that_fails_midway_leaves_nothing_written(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows inserted, then the rollups fail: the transaction is rolled back whole (the rows
    are not there, so the spooled batch's replay writes and rolls them up once)."""
    events = _events()
    real = _batch._rollup

    def fail(*args: Any) -> None:
        raise _batch._dbapi(engine.dialect.name).OperationalError("disk I/O error")

    monkeypatch.setattr(_batch, "_rollup", fail)
    with pytest.raises(StorageError):
        write_batch(engine, events)
    tables = _tables(str(engine.url.render_as_string(hide_password=False)))
    assert all(rows == [] for rows in _snapshot(engine, tables).values())
    monkeypatch.setattr(_batch, "_rollup", real)
    assert write_batch(engine, events) == len(events)
    assert len(_snapshot(engine, tables)["requests"]) == len(events)


def test_the_child_rolls_back_a_failed_batch_before_the_next(tmp_path: Path) -> None:
    """The child keeps one connection: a batch refused after its rows went in must not ride
    along with the next batch's commit."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate(url)
    engine = make_engine(url)
    with engine.begin() as conn:  # the rollups refuse one model, after the rows are inserted
        conn.execute(text(
            "CREATE TRIGGER refuse BEFORE INSERT ON hourly_rollups WHEN NEW.model = 'refused' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ))  # fmt: skip
    good, bad, later = make_event(), make_event(model_served="refused"), make_event()
    writer = WriterProcess(url)
    writer.start()
    try:
        with pytest.raises(PoisonBatch, match="refused"):
            writer.write([good, bad])
        assert writer.write([later]) == 1
    finally:
        writer.stop()
    with engine.connect() as conn:
        stored = set(conn.execute(text("SELECT id FROM requests")).scalars())
    engine.dispose()
    assert stored == {later.id}


def test_the_child_writes_again_once_the_database_is_back(
    outage_engine: tuple[Engine, Outage],
) -> None:
    """The database goes away under the writer process (PostgreSQL: every connection reset;
    SQLite: the file locked): batches fail as storage errors (the recorder spools them), the
    child stays up, and once the database is back it writes again (on a new connection)."""
    engine, outage = outage_engine
    writer = WriterProcess(engine.url.render_as_string(hide_password=False), busy_timeout_ms=50)
    writer.start()
    try:
        assert writer.write([make_event()]) == 1
        outage.cut()
        with pytest.raises(StorageError):
            writer.write([make_event()])
        outage.start()
        events = [make_event() for _ in range(3)]
        deadline = time.monotonic() + 10
        while True:
            try:
                assert writer.write(events) == 3
                break
            except StorageError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert writer.spawned == 1  # the same child throughout
    finally:
        writer.stop()
    assert counts(engine)[:3] == (4, 4, 4)
