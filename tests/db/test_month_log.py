"""A month retention has cut keeps logging its writes, so that the next pass tells whether it
holds anything more to remove without reading the month (PostgreSQL; collector.db.month_log)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, text

from collector.db import month_cut, month_log, month_stage, partitions
from collector.db.migrate import check
from collector.db.retention import apply_retention, maintain, release_old_pairs, swap
from collector.recorder import write_batch
from tests.db.test_partitions import NOV, OCT, SEP, _event, _to
from tests.factories import make_key, make_project

_READ = (
    "SELECT seq_scan, seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
    "WHERE schemaname = current_schema() AND relname = 'requests_p202609'"
)
_LEFT = (
    "SELECT relname FROM pg_class WHERE relnamespace = to_regnamespace(current_schema()) "
    "AND (relname LIKE '%\\_touched' OR relname LIKE '%\\_next')"
)
_FUNCTION = (
    "SELECT count(*) FROM pg_proc WHERE proname = 'spendscope_retention_touched' "
    "AND pronamespace = to_regnamespace(current_schema())"
)
_REPRICE = "UPDATE requests SET cost_source = 'catalog', cost_usd = 0.5 WHERE id = :id"


def _owned(engine: Engine) -> dict[str, Any]:
    project = make_project(engine)
    return {"project_id": project, "api_key_id": make_key(engine, project)}


def _unpriced(day: int, owned: dict[str, Any]) -> Any:
    return _event(SEP + timedelta(days=day), cost_source="unpriced", cost_usd=None, **owned)


def _cut_september(
    engine: Engine, owned: dict[str, Any], cutoff: datetime = OCT, *, more: int = 0
) -> list[Any]:
    """September with two priced and two unpriced requests (and ``more`` already there to
    keep), cut at ``cutoff``: the unpriced stay; the old pair is released. Returns them."""
    kept = [_unpriced(3, owned), _unpriced(4, owned)]
    write_batch(engine, [_event(SEP + timedelta(days=d), **owned) for d in (1, 2)] + kept)
    assert swap(engine, SEP, cutoff) == 2 + more
    assert release_old_pairs(engine) == 2
    return kept


def _probe(
    engine: Engine, cutoff: datetime, probe: Any = month_log.has_droppable
) -> tuple[bool, int, int]:
    """The probe's answer, and the scans of September and the rows read there meanwhile. A
    table of a few rows is read whole by any plan; without sequential scans, the probe shows
    whether its indexes answer it."""
    with engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        scans, rows = conn.execute(text(_READ)).one_or_none() or (0, 0)
        found = probe(conn, SEP, cutoff)
        scans_after, rows_after = conn.execute(text(_READ)).one_or_none() or (0, 0)
        return found, scans_after - scans, rows_after - rows


def test_a_cut_month_is_probed_through_its_log_without_reading_a_row(
    months_engine: Engine,
) -> None:
    _cut_september(months_engine, _owned(months_engine))
    with months_engine.connect() as conn:
        assert month_log.cut_at(conn, SEP) == datetime(2026, 10, 1)
    assert _probe(months_engine, NOV) == (False, 0, 0)
    # the plain probe reads every kept row to find none it can remove
    found, scans, rows = _probe(months_engine, NOV, month_cut.has_droppable)
    assert not found and scans + rows > 0


def test_a_reprice_or_a_priced_late_request_makes_a_cut_month_droppable_again(
    months_engine: Engine,
) -> None:
    owned = _owned(months_engine)
    kept = _cut_september(months_engine, owned)
    write_batch(months_engine, [_unpriced(5, owned)])  # late, unpriced: still kept
    assert _probe(months_engine, NOV)[0] is False
    with months_engine.begin() as conn:
        conn.execute(text(_REPRICE), {"id": kept[0].id})
    assert _probe(months_engine, NOV)[0] is True
    # the next pass removes the repriced request, keeps the others, and logs anew
    result = apply_retention(months_engine, 31, NOV + timedelta(days=1))
    assert result.requests_deleted == 1 and result.months_dropped == (SEP,)
    assert _probe(months_engine, NOV) == (False, 0, 0)
    late = _event(SEP + timedelta(days=6), **owned)  # priced, recorded into the cut month
    write_batch(months_engine, [late])
    assert _probe(months_engine, NOV)[0] is True


def test_a_row_kept_for_its_start_time_is_found_once_the_cutoff_passes_it(
    months_engine: Engine,
) -> None:
    owned = _owned(months_engine)
    cutoff = OCT + timedelta(days=10)
    # an id of September, started on October 15: kept by a cut at October 10
    straddling = _event(OCT + timedelta(days=14), made=SEP + timedelta(days=29), **owned)
    write_batch(months_engine, [straddling])
    _cut_september(months_engine, owned, cutoff, more=1)
    assert _probe(months_engine, OCT + timedelta(days=12))[0] is False
    assert _probe(months_engine, OCT + timedelta(days=20))[0] is True


@pytest.mark.parametrize("broken", ["stopped stage", "trigger dropped", "log dropped"])
def test_without_a_whole_log_the_month_is_read(months_engine: Engine, broken: str) -> None:
    owned = _owned(months_engine)
    kept = _cut_september(months_engine, owned)
    if broken == "stopped stage":  # its catch-up may take ids off the log: the note goes first
        month_stage.stage_month(months_engine, SEP, NOV)
        with months_engine.begin() as conn:
            month_stage.catch_up(conn, SEP, NOV)
    with months_engine.begin() as conn:
        if broken == "trigger dropped":
            conn.execute(text(f"DROP TRIGGER {month_log.TRIGGER} ON attempts_p202609"))
        if broken == "log dropped":
            conn.execute(text(f"DROP TRIGGER {month_log.TRIGGER} ON requests_p202609"))
            conn.execute(text(f"DROP TRIGGER {month_log.TRIGGER} ON attempts_p202609"))
            conn.execute(text("DROP TABLE requests_p202609_touched"))
        conn.execute(text(_REPRICE), {"id": kept[0].id})
        if broken != "log dropped":
            conn.execute(text("DELETE FROM requests_p202609_touched"))  # a log that missed it
    found, scans, rows = _probe(months_engine, NOV)
    assert found and scans + rows > 0


@pytest.mark.parametrize("retention_days", [None, 31])
def test_a_cut_months_log_outlives_maintenance_and_is_no_drift(
    months_engine: Engine, retention_days: int | None
) -> None:
    owned = _owned(months_engine)
    _cut_september(months_engine, owned)
    maintain(months_engine, retention_days, NOV + timedelta(days=1))
    check(months_engine.url.render_as_string(hide_password=False))
    late = _unpriced(7, owned)
    write_batch(months_engine, [late])
    with months_engine.connect() as conn:
        logged = conn.execute(text("SELECT request_id FROM requests_p202609_touched"))
        assert set(logged.scalars()) == {late.id}
        assert month_log.cut_at(conn, SEP) is not None


def test_a_stage_of_a_cut_month_starts_from_a_fresh_log(months_engine: Engine) -> None:
    owned = _owned(months_engine)
    kept = _cut_september(months_engine, owned)
    with months_engine.begin() as conn:
        conn.execute(text(_REPRICE), {"id": kept[1].id})
    month_stage.stage_month(months_engine, SEP, NOV)
    with months_engine.connect() as conn:
        assert month_log.cut_at(conn, SEP) is None
        assert conn.scalar(text("SELECT count(*) FROM requests_p202609_touched")) == 0
    swap_at = partial(month_stage.swap_month, month=SEP, cutoff=NOV)
    assert partitions.with_lock_retry(months_engine, swap_at) == 1
    with months_engine.connect() as conn:
        assert month_log.cut_at(conn, SEP) == datetime(2026, 11, 1)


def test_a_downgrade_to_plain_tables_leaves_no_log_or_stage_behind(months_engine: Engine) -> None:
    owned = _owned(months_engine)
    kept = _cut_september(months_engine, owned)
    late = _event(OCT + timedelta(days=3), **owned)
    write_batch(months_engine, [late])
    month_stage.stage_month(months_engine, OCT, NOV)  # then the pass stops
    url = months_engine.url.render_as_string(hide_password=False)
    _to(url, "0030", "downgrade")
    with months_engine.connect() as conn:
        assert not partitions.is_partitioned(conn)
        left = conn.execute(text(_LEFT)).scalars().all()
        assert left == [] and conn.scalar(text(_FUNCTION)) == 0
        ids = conn.execute(text("SELECT id FROM requests ORDER BY id")).scalars().all()
    assert ids == sorted([*(e.id for e in kept), late.id])
    _to(url, "head")  # and back: the months are made again, nothing in the way
    write_batch(months_engine, [_unpriced(8, owned)])


def test_a_log_made_again_by_anything_else_is_not_trusted(months_engine: Engine) -> None:
    owned = _owned(months_engine)
    kept = _cut_september(months_engine, owned)
    with months_engine.begin() as conn:
        conn.execute(text(_REPRICE), {"id": kept[0].id})
        # what a stage of an older version did, which kept the note: the log and the
        # trigger dropped, then made again (empty), and the stage stopped
        for table in ("requests_p202609", "attempts_p202609"):
            conn.execute(text(f"DROP TRIGGER {month_log.TRIGGER} ON {table}"))
        conn.execute(text("DROP TABLE requests_p202609_touched"))
        month_log.start_log(conn, SEP)
        assert month_log.cut_at(conn, SEP) is None  # the note names the log it emptied
        assert month_stage.staged_months(conn) == [SEP]  # so the next pass clears it
    found, scans, rows = _probe(months_engine, NOV)
    assert found and scans + rows > 0


def test_a_stage_begun_during_the_probe_sends_it_to_read_the_month(
    months_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    owned = _owned(months_engine)
    kept = _cut_september(months_engine, owned)
    with months_engine.begin() as conn:
        conn.execute(text(_REPRICE), {"id": kept[0].id})  # logged: September has more to drop
    real, calls = month_log.cut_at, []

    def racing(conn: Any, month: datetime) -> datetime | None:
        noted = real(conn, month)
        calls.append(noted)
        if len(calls) == 1:  # another pass stages September now, and its catch-up takes the
            month_stage.stage_month(months_engine, SEP, NOV)  # logged ids off the new log
            with months_engine.begin() as other:
                month_stage.catch_up(other, SEP, NOV)
        return noted

    monkeypatch.setattr(month_log, "cut_at", racing)
    with months_engine.connect() as conn:
        assert month_log.has_droppable(conn, SEP, NOV)
    assert calls == [datetime(2026, 10, 1), None]
