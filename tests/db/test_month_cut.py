"""A month's cut at scale: a month keeping no row is never read, its rows are gone when the
cut commits (counted and freed afterwards), and dropping the old pair's files holds no lock
the recorder's key checks wait for (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from collector.db import make_engine, month_cut, partitions
from collector.db.retention import apply_retention, cut_old_months, release_old_pairs
from collector.recorder import write_batch
from tests.db.test_partitions import NOV, OCT, SEP, _event
from tests.factories import make_key, make_project


def _keys(engine: Engine) -> tuple[int, int]:
    project = make_project(engine)
    return project, make_key(engine, project)


def _noted(real: Callable[..., int], name: str, calls: list[str]) -> Callable[..., int]:
    def step(conn: object) -> int:
        calls.append(name)
        return real(conn)

    return step


def test_a_month_keeping_nothing_is_dropped_without_being_read(
    months_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, key = _keys(months_engine)
    owned: dict[str, Any] = {"project_id": project, "api_key_id": key}
    write_batch(months_engine, [_event(SEP + timedelta(days=d), **owned) for d in (1, 5)])
    unpriced = _event(OCT + timedelta(days=2), cost_source="unpriced", cost_usd=None, **owned)
    write_batch(months_engine, [unpriced, _event(OCT + timedelta(days=3), **owned)])
    copied: list[str] = []  # the tables whose rows were copied
    real = month_cut.copy_rows

    def copy_rows(conn: Connection, tables: tuple[str, str], *args: Any) -> int:
        copied.append(tables[0])
        return real(conn, tables, *args)

    monkeypatch.setattr(month_cut, "copy_rows", copy_rows)
    calls: list[str] = []  # the old pairs' keys go before their tables, every time
    for name in ("unlink_old_pairs", "drop_old_pairs"):
        real_step = getattr(month_cut, name)
        monkeypatch.setattr(month_cut, name, _noted(real_step, name, calls))
    result = apply_retention(months_engine, 1, NOV + timedelta(days=1))  # cutoff Nov 1
    assert result.requests_deleted == 3 and set(result.months_dropped) == {SEP, OCT}
    # September kept nothing: its rows were never copied
    assert copied == ["requests_p202610", "attempts_p202610"]
    assert calls and calls == ["unlink_old_pairs", "drop_old_pairs"] * (len(calls) // 2)
    with months_engine.connect() as conn:
        assert SEP not in partitions.months(conn) and OCT in partitions.months(conn)
        assert conn.scalar(text("SELECT count(*) FROM requests")) == 1


_OLD_TABLES = (
    "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_old' "
    "AND relnamespace = to_regnamespace(current_schema())"
)


def test_rows_are_gone_at_the_cut_and_counted_exactly_when_released(
    months_engine: Engine,
) -> None:
    project, key = _keys(months_engine)
    owned: dict[str, Any] = {"project_id": project, "api_key_id": key}
    unpriced = _event(SEP + timedelta(days=9), cost_source="unpriced", cost_usd=None, **owned)
    priced = [_event(SEP + timedelta(days=d), **owned) for d in (1, 2, 3)]
    write_batch(months_engine, [*priced, unpriced, _event(OCT + timedelta(days=4), **owned)])
    assert cut_old_months(months_engine, NOV) == (SEP, OCT)
    with months_engine.connect() as conn:  # gone from every query, the old pairs still there
        assert conn.scalar(text("SELECT count(*) FROM requests")) == 1
        assert conn.scalar(text(_OLD_TABLES)) == 4
    assert release_old_pairs(months_engine) == 4  # September's kept row is not counted
    with months_engine.connect() as conn:
        assert conn.scalar(text(_OLD_TABLES)) == 0
    assert release_old_pairs(months_engine) == 0


def test_dropping_an_old_pair_never_holds_the_recorders_key_checks(months_engine: Engine) -> None:
    project, key = _keys(months_engine)
    owned: dict[str, Any] = {"project_id": project, "api_key_id": key}
    write_batch(months_engine, [_event(SEP + timedelta(days=1), **owned)])
    partitions.with_lock_retry(months_engine, lambda conn: partitions.detach_month(conn, SEP))
    partitions.with_lock_retry(months_engine, lambda conn: month_cut.cut_month(conn, SEP, OCT))
    partitions.with_lock_retry(months_engine, month_cut.unlink_old_pairs)
    with months_engine.connect() as dropping:
        dropping.begin()
        assert month_cut.drop_old_pairs(dropping) == 2  # holds its locks until it commits
        # meanwhile a gateway records a request of the same key (its foreign key checks
        # lock api_keys and projects), and must not wait for the drop
        options = f"{months_engine.url.query.get('options', '')} -c lock_timeout=300".strip()
        url = months_engine.url.update_query_dict({"options": options})
        writer = make_engine(url.render_as_string(hide_password=False))
        try:
            assert write_batch(writer, [_event(NOV + timedelta(days=3), **owned)]) == 1
        finally:
            writer.dispose()
        dropping.commit()
    with months_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM requests")) == 1
