"""PostgreSQL's monthly partitions: migration 0031 keeps every row, months are created ahead,
retention drops whole months and keeps what it must."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import quote

import pytest
from alembic import command
from sqlalchemy import Engine, MetaData, Table, delete, func, select, text

from collector.db import make_engine, month_cut, partitions
from collector.db.migrate import alembic_config, check, upgrade_head
from collector.db.models import Attempt, Request, daily_upstream_rollups
from collector.db.retention import apply_retention, maintain, maintain_once
from collector.recorder import AttemptEvent, UsageEvent, ulid, write_batch
from collector.reports import render_report
from collector.settings import load_settings
from tests.conftest import _pg_schema
from tests.factories import make_event, make_key, make_project

NOW = datetime(2026, 12, 15, 9, 30, tzinfo=UTC)  # 30 days: the cutoff is Nov 15 09:30
SEP, OCT, NOV, DEC = (datetime(2026, m, 1, tzinfo=UTC) for m in (9, 10, 11, 12))
_rng = random.Random(7)


def _id(at: datetime) -> str:
    return ulid(int(at.timestamp() * 1000), _rng.getrandbits(80))


def _event(at: datetime, *, made: datetime | None = None, **overrides: Any) -> UsageEvent:
    """A request started at ``at`` whose id was made at ``made`` (default: ``at``), with a
    failed try and a retry."""
    tries = [
        AttemptEvent(1, at, 50.0, "gpt-4o-mini", http_status=500, error_type="server_error"),
        AttemptEvent(2, at + timedelta(seconds=1), 70.0, "gpt-4o-mini", http_status=200),
    ]
    return make_event(id=_id(made or at), started_at=at, attempts=tries, **overrides)


def _seed(engine: Engine) -> list[UsageEvent]:
    project = make_project(engine)
    key_id = make_key(engine, project)
    events = [
        _event(month + timedelta(days=day, hours=hour), project_id=project, api_key_id=key_id)
        for month in (SEP, OCT, NOV)
        for day in (0, 9, 20, 27)
        for hour in (0, 13)
    ]
    events += [
        _event(SEP + timedelta(days=3), cost_source="unpriced", cost_usd=None),  # kept
        _event(NOV + timedelta(days=20), made=OCT + timedelta(days=30)),  # id of Oct, kept
        make_event(id="not-a-ulid", started_at=OCT + timedelta(days=2)),  # the default's
        _event(datetime(2027, 5, 2, tzinfo=UTC)),  # a month not created yet: the default's
    ]
    assert write_batch(engine, events) == len(events)
    return events


@pytest.fixture
def pg_url() -> Iterator[str]:
    with _pg_schema() as url:
        yield url


def _to(url: str, revision: str, direction: str = "upgrade") -> None:
    getattr(command, direction)(alembic_config(url), revision)


def _rows(engine: Engine) -> dict[str, list[Any]]:
    """Every row of the raw tables and the rollups, in a stable order."""
    meta = MetaData()
    out: dict[str, list[Any]] = {}
    names = ("requests", "attempts", "hourly_rollups", "daily_rollups", "hourly_tag_rollups")
    with engine.connect() as conn:
        for name in names:
            table = Table(name, meta, autoload_with=conn)
            out[name] = sorted(tuple(map(str, row)) for row in conn.execute(select(table)))
    return out


def _where(engine: Engine) -> dict[str, int]:
    """How many requests each partition of ``requests`` holds."""
    sql = (
        "SELECT c.relname, count(r.*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "LEFT JOIN requests r ON r.tableoid = c.oid WHERE i.inhparent = to_regclass('requests') "
        "GROUP BY c.relname"
    )
    with engine.connect() as conn:
        return {str(name): int(n) for name, n in conn.execute(text(sql))}


def test_the_migration_keeps_every_row_and_id_both_ways(pg_url: str) -> None:
    _to(pg_url, "0030")
    engine = make_engine(pg_url)
    try:
        # today's writer also writes the upstream rollups, which 0033 creates (and backfills)
        daily_upstream_rollups.create(engine)
        _seed(engine)
        daily_upstream_rollups.drop(engine)
        before = _rows(engine)
        _to(pg_url, "head")
        check(pg_url)  # the models still match (partitions and their keys left out)
        with engine.connect() as conn:
            assert partitions.is_partitioned(conn)
            assert {SEP, OCT, NOV} <= set(partitions.months(conn))
        assert _rows(engine) == before
        where = _where(engine)
        assert where["requests_p202609"] == 9  # eight plus the unpriced one
        assert where["requests_p202610"] == 9  # eight plus the one whose id was made in Oct
        assert where["requests_pdefault"] == 2  # "not-a-ulid", and May 2027
        _to(pg_url, "0030", "downgrade")
        with engine.connect() as conn:
            assert not partitions.is_partitioned(conn)
            fks = conn.execute(
                text("SELECT confdeltype FROM pg_constraint WHERE conname = :n"),
                {"n": "fk_attempts_request_id_requests"},
            ).scalar()
        assert fks == "c"  # ON DELETE CASCADE again
        assert _rows(engine) == before
        _to(pg_url, "head")
        assert _rows(engine) == before
    finally:
        engine.dispose()


def _report(engine: Engine) -> list[str]:
    return [
        render_report(engine, month, by, fmt)
        for month in ("2026-09", "2026-10", "2026-11")
        for by in ("project", "model", "tag")
        for fmt in ("json", "focus")
    ]


def _count(engine: Engine, table: type[Request] | type[Attempt]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def test_retention_drops_whole_months_and_keeps_what_it_must(pg_migrated_url: str) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        created = partitions.ensure_months(engine, [SEP, OCT, NOV])
        assert created.months == (SEP, OCT, NOV)
        events = _seed(engine)
        reports = _report(engine)
        result = apply_retention(engine, 30, NOW, pause_s=0)
        assert result.months_dropped == (SEP, OCT)
        with engine.connect() as conn:  # both cut down to what they keep, not dropped
            assert partitions.months(conn)[:3] == [SEP, OCT, NOV]
            assert partitions.detached(conn) == []
            left = {r.id: r for r in conn.execute(select(Request.id, Request.started_at))}
        cutoff = NOW - timedelta(days=30)
        kept = {e.id for e in events if e.started_at >= cutoff or e.cost_source == "unpriced"}
        assert set(left) == kept
        assert result.requests_deleted == len(events) - len(kept)
        assert "not-a-ulid" not in kept  # started in October: the batched delete took it
        assert _count(engine, Attempt) == 2 * len(kept)
        where = _where(engine)  # September's unpriced one, October's id started late, May 2027
        assert (where["requests_p202609"], where["requests_p202610"]) == (1, 1)
        assert where["requests_pdefault"] == 1
        assert _report(engine) == reports  # old months' reports read the rollups
        again = apply_retention(engine, 30, NOW, pause_s=0)  # nothing left to drop
        assert (again.requests_deleted, again.months_dropped) == (0, ())
    finally:
        engine.dispose()


def _indexes(engine: Engine, table: str) -> list[str]:
    """The index definitions of a partition, its own name taken out."""
    sql = "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t"
    with engine.connect() as conn:
        found = conn.execute(text(sql), {"t": table}).scalars()
        return sorted(d.split(" ON ", 1)[1].replace(table, "T") for d in found)


def _constraints(engine: Engine, table: str) -> list[str]:
    sql = "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(:t)"
    with engine.connect() as conn:
        return sorted(d.replace("p202609", "p").replace("p202610", "p")
                      for d in conn.execute(text(sql), {"t": table}).scalars())  # fmt: skip


def test_a_month_cut_down_is_a_whole_partition_and_goes_once_nothing_keeps_it(
    pg_migrated_url: str,
) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        unpriced = _september(engine, [SEP, OCT, NOV])
        assert apply_retention(engine, 30, NOW, pause_s=0).months_dropped == (SEP,)
        for table in partitions.TABLES:  # the indexes and keys a month is made with
            assert _indexes(engine, f"{table}_p202609") == _indexes(engine, f"{table}_p202610")
            assert _constraints(engine, f"{table}_p202609") == _constraints(
                engine, f"{table}_p202610"
            )
        write_batch(engine, [unpriced])  # the key holds in the new partition: stored once
        assert (_count(engine, Request), _count(engine, Attempt)) == (1, 2)
        with engine.begin() as conn:  # priced later: now retention may take it
            conn.execute(
                text("UPDATE requests SET cost_source = 'computed', cost_usd = 1e-3 WHERE id = :i"),
                {"i": unpriced.id},
            )
        result = apply_retention(engine, 30, NOW, pause_s=0)
        assert (result.requests_deleted, result.months_dropped) == (1, (SEP,))
        with engine.connect() as conn:
            assert partitions.months(conn)[0] == OCT  # keeping nothing: dropped
        assert (_count(engine, Request), _count(engine, Attempt)) == (0, 0)
    finally:
        engine.dispose()


def test_a_month_created_late_takes_its_rows_from_the_default(pg_migrated_url: str) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        may = datetime(2027, 5, 1, tzinfo=UTC)
        events = [_event(may + timedelta(days=d)) for d in range(3)]
        write_batch(engine, events)
        assert _where(engine)["requests_pdefault"] == 3
        result = maintain(engine, None, may + timedelta(days=3))
        assert result.months_created == (
            may,
            datetime(2027, 6, 1, tzinfo=UTC),
            datetime(2027, 7, 1, tzinfo=UTC),
        )
        where = _where(engine)
        assert (where["requests_pdefault"], where["requests_p202705"]) == (0, 3)
        assert result.in_default == 0
        assert (_count(engine, Request), _count(engine, Attempt)) == (3, 6)
        assert write_batch(engine, events) == 0  # still stored once: the id is the key
        with engine.begin() as conn:  # each month's attempts go with their request
            conn.execute(delete(Request).where(Request.id == events[0].id))
        assert _count(engine, Attempt) == 4
    finally:
        engine.dispose()


def test_the_gateway_maintenance_creates_months_with_the_retention_off(
    pg_migrated_url: str,
) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        later = datetime(2031, 1, 10, tzinfo=UTC)
        assert maintain_once(engine, load_settings(), later) is None  # nothing to delete
        with engine.connect() as conn:
            assert partitions.months(conn)[-3:] == partitions.months_ahead(later)
    finally:
        engine.dispose()


def _september(engine: Engine, months: list[datetime]) -> UsageEvent:
    """``months`` created, then two September requests: one priced, and the unpriced one
    (returned) that retention keeps."""
    partitions.ensure_months(engine, months)
    unpriced = _event(SEP + timedelta(days=1), cost_source="unpriced", cost_usd=None)
    write_batch(engine, [_event(SEP + timedelta(days=2)), unpriced])
    return unpriced


def test_a_retention_cut_short_is_finished_by_the_next(pg_migrated_url: str) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        unpriced = _september(engine, [SEP])
        with engine.begin() as conn:
            partitions.detach_month(conn, SEP)  # then the process died
        assert _count(engine, Request) == 0
        result = apply_retention(engine, 30, NOW, pause_s=0)
        assert result.requests_deleted == 1
        with engine.connect() as conn:
            assert partitions.detached(conn) == []
            assert list(conn.scalars(select(Request.id))) == [unpriced.id]
        assert _count(engine, Attempt) == 2
    finally:
        engine.dispose()


def test_ids_map_to_their_month() -> None:
    at = datetime(2026, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert partitions.id_month(_id(at)) == DEC
    assert partitions.id_month(_id(at + timedelta(milliseconds=1))) == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert partitions.bound(DEC) <= _id(DEC) < partitions.bound(datetime(2027, 1, 1, tzinfo=UTC))
    assert partitions.id_month("not-a-ulid") is None
    assert partitions.id_month("7ZZZZZZZZZZZZZZZZZZZZZZZZZ") is None  # the year 10889
    assert partitions.add_months(NOV, 14) == datetime(2028, 1, 1, tzinfo=UTC)


def test_a_detach_never_holds_up_a_recorder_transaction_it_waits_for(
    pg_migrated_url: str,
) -> None:
    """A recorder transaction writes ``requests`` and then ``attempts``. A detach queued behind
    its first write must not hold ``attempts`` meanwhile, or the second write waits for the
    detach that waits for it (until the detach's lock timeout gives up)."""
    engine = make_engine(pg_migrated_url)
    try:
        partitions.ensure_months(engine, [SEP, *partitions.months_ahead(NOW)])
        event = _event(NOW - timedelta(hours=1))
        write_batch(engine, [event])
        touch = "UPDATE {} SET duration_ms = duration_ms WHERE {} = :i"  # a write's table locks
        with engine.connect() as recorder:
            recorder.execute(text("SET lock_timeout = '100ms'"))  # under the detach's 200 ms
            recorder.execute(text(touch.format("requests", "id")), {"i": event.id})
            detaching = threading.Thread(
                target=partitions.with_lock_retry,
                args=(engine, partial(partitions.detach_month, month=SEP)),
            )
            detaching.start()
            _wait_for_a_lock_wait(engine)
            # would time out behind a detach that took attempts first
            recorder.execute(text(touch.format("attempts", "request_id")), {"i": event.id})
            recorder.commit()
            detaching.join(10)
        assert not detaching.is_alive()
        with engine.connect() as conn:
            assert SEP not in partitions.months(conn)
        assert (_count(engine, Request), _count(engine, Attempt)) == (1, 2)
    finally:
        engine.dispose()


def _wait_for_a_lock_wait(engine: Engine) -> None:
    """Until some session of this database waits for a lock (the detach, queued)."""
    sql = "SELECT count(*) FROM pg_locks WHERE NOT granted"
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while not conn.execute(text(sql)).scalar_one():
            assert time.monotonic() < deadline, "the detach never queued for its lock"
            conn.commit()
            time.sleep(0.01)


def test_rows_written_while_a_month_is_detached_are_cut_with_it(pg_migrated_url: str) -> None:
    """A replay or a late Batch line with an id of a detached month goes to the default
    partition; the cut takes it in (the attach would refuse the month otherwise), once."""
    engine = make_engine(pg_migrated_url)
    try:
        unpriced = _september(engine, [SEP, OCT, NOV])
        with engine.begin() as conn:
            partitions.detach_month(conn, SEP)  # then the process died
        late = _event(SEP + timedelta(days=3))
        write_batch(engine, [late, unpriced])  # both land in the default meanwhile
        assert _where(engine)["requests_pdefault"] == 2
        result = apply_retention(engine, 30, NOW, pause_s=0)
        # the cut took both in (the replay once); the batched delete then took the late one
        assert (result.requests_deleted, result.months_dropped) == (2, (SEP,))
        with engine.connect() as conn:
            assert SEP in partitions.months(conn)
            assert partitions.detached(conn) == []
        assert _where(engine)["requests_pdefault"] == 0
        assert (_count(engine, Request), _count(engine, Attempt)) == (1, 2)
        again = apply_retention(engine, 30, NOW, pause_s=0)
        assert (again.requests_deleted, again.months_dropped) == (0, ())
    finally:
        engine.dispose()


def test_the_cutoff_is_read_in_utc_whatever_the_session_time_zone(pg_migrated_url: str) -> None:
    """``started_at`` holds naive UTC: a cutoff compared in the session's zone (Tokyo, +9)
    would drop a row that started after it."""
    tokyo = f"{pg_migrated_url}{quote(' -ctimezone=Asia/Tokyo')}"
    engine = make_engine(tokyo)
    try:
        partitions.ensure_months(engine, [OCT, NOV])
        cutoff = NOW - timedelta(days=30)
        late = _event(cutoff + timedelta(hours=1), made=OCT + timedelta(days=3))  # an Oct id
        write_batch(engine, [late, _event(OCT + timedelta(days=4))])
        result = apply_retention(engine, 30, NOW, pause_s=0)
        assert (result.requests_deleted, result.months_dropped) == (1, (OCT,))
        with engine.connect() as conn:
            assert list(conn.scalars(select(Request.id))) == [late.id]
    finally:
        engine.dispose()


def test_a_detached_month_goes_back_whole_with_the_retention_off(pg_migrated_url: str) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        partitions.ensure_months(engine, [SEP])
        events = [_event(SEP + timedelta(days=d)) for d in (1, 2)]
        write_batch(engine, events)
        with engine.begin() as conn:
            partitions.detach_month(conn, SEP)  # a pass stopped; then the retention was unset
        maintain(engine, None, NOW)
        with engine.connect() as conn:
            assert SEP in partitions.months(conn)
            assert partitions.detached(conn) == []
        assert (_count(engine, Request), _count(engine, Attempt)) == (2, 4)
    finally:
        engine.dispose()


def test_an_old_pair_left_by_a_stopped_pass_is_dropped_by_the_next(pg_migrated_url: str) -> None:
    engine = make_engine(pg_migrated_url)
    try:
        unpriced = _september(engine, [SEP, OCT, NOV])
        with engine.begin() as conn:
            partitions.detach_month(conn, SEP)
        with engine.begin() as conn:
            month_cut.cut_month(conn, SEP, NOW - timedelta(days=30))  # then the process died
        sql = (
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%p202609_old' "
            "AND relnamespace = to_regnamespace(current_schema())"
        )
        with engine.connect() as conn:
            assert conn.execute(text(sql)).scalar_one() == 2
        # the stopped pass's removed request is counted by the pass that drops its pair
        assert apply_retention(engine, 30, NOW, pause_s=0).requests_deleted == 1
        with engine.connect() as conn:
            assert conn.execute(text(sql)).scalar_one() == 0
            assert list(conn.scalars(select(Request.id))) == [unpriced.id]
    finally:
        engine.dispose()


def test_0033_backfills_a_month_a_retention_pass_left_detached(pg_url: str) -> None:
    """A pass cut short leaves a month detached until the next one; the upgrade meanwhile
    still finds its requests, so the kept rows it attaches again are in the upstream rollups."""
    upgrade_head(pg_url)
    engine = make_engine(pg_url)
    try:
        partitions.ensure_months(engine, [SEP])
        at = SEP + timedelta(days=14, hours=12)
        priced = [_event(at, upstream="azure") for _ in range(10)]
        unpriced = [_event(at, upstream="azure", cost_usd=None, cost_source="unpriced")]
        assert write_batch(engine, priced + unpriced) == 11
        _to(pg_url, "0032", "downgrade")
        with engine.begin() as conn:
            partitions.detach_month(conn, SEP)
        _to(pg_url, "head")
        apply_retention(engine, 30, NOW, pause_s=0)  # cuts September, attaches its kept row
        with engine.connect() as conn:
            kept = conn.execute(select(func.count()).select_from(Request)).scalar_one()
            rolled = conn.execute(
                text("SELECT upstream, requests, unpriced_requests FROM daily_upstream_rollups")
            ).all()
    finally:
        engine.dispose()
    assert kept == 1
    assert [tuple(row) for row in rolled] == [("azure", 11, 1)]
