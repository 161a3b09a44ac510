"""Retention's staged cut of an attached month (PostgreSQL): the kept rows are copied aside
while the month stays in use, what is written to the month meanwhile is caught up, and a
stage left by a stopped pass is cleared without disturbing the recorder."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine, text

from collector.db import month_stage, partitions
from collector.db.migrate import check
from collector.db.retention import apply_retention, maintain, release_old_pairs
from collector.recorder import write_batch
from tests.db.test_partitions import NOV, OCT, SEP, _event
from tests.factories import make_event, make_key, make_project

_MONTH_ROWS = "SELECT id FROM requests WHERE id >= :lo AND id < :hi ORDER BY id"
_STAGE_LEFT = (
    "SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace(current_schema()) "
    "AND relname LIKE '%\\_next'"
)
_LOGS = (
    "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class "
    "WHERE relnamespace = to_regnamespace(current_schema()) AND relname LIKE '%\\_touched'"
)
_TRIGGERS = (
    "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid "
    "WHERE t.tgname = 'spendscope_touched' AND c.relnamespace = to_regnamespace(current_schema())"
)
_MONTH_LOGGED = ("requests_p202609_touched", "attempts_p202609,requests_p202609")


def _logs(engine: Engine) -> tuple[int, str | None, str | None]:
    """Staged tables left, the logs and the tables the trigger is on."""
    with engine.connect() as conn:
        left = conn.scalar(text(_STAGE_LEFT)) or 0
        return left, conn.scalar(text(_LOGS)), conn.scalar(text(_TRIGGERS))


def _owned(engine: Engine) -> dict[str, Any]:
    project = make_project(engine)
    return {"project_id": project, "api_key_id": make_key(engine, project)}


def _september(engine: Engine) -> list[str]:
    bounds = {"lo": partitions.bound(SEP), "hi": partitions.bound(OCT)}
    with engine.connect() as conn:
        return list(conn.execute(text(_MONTH_ROWS), bounds).scalars())


def _unpriced(days: int, owned: dict[str, Any]) -> Any:
    return _event(SEP + timedelta(days=days), cost_source="unpriced", cost_usd=None, **owned)


def test_what_is_written_to_a_month_during_its_stage_is_caught_up(months_engine: Engine) -> None:
    owned = _owned(months_engine)
    priced = [_event(SEP + timedelta(days=d), **owned) for d in (1, 2, 3)]
    repriced, deleted, late = _unpriced(4, owned), _unpriced(5, owned), _unpriced(6, owned)
    write_batch(
        months_engine, [*priced, repriced, deleted, _event(OCT + timedelta(days=1), **owned)]
    )
    assert month_stage.stage_month(months_engine, SEP, OCT) == 2
    # the month stays attached and whole; meanwhile a late unpriced request is recorded into
    # it, a reprice prices one kept row and another kept row is deleted
    assert len(_september(months_engine)) == 5
    write_batch(months_engine, [late])
    with months_engine.begin() as conn:
        conn.execute(
            text("UPDATE requests SET cost_source = 'catalog', cost_usd = 0.5 WHERE id = :id"),
            {"id": repriced.id},
        )
        conn.execute(text("DELETE FROM requests WHERE id = :id"), {"id": deleted.id})
    assert _september(months_engine) == sorted([*(e.id for e in priced), repriced.id, late.id])
    kept = partitions.with_lock_retry(
        months_engine, partial(month_stage.swap_month, month=SEP, cutoff=OCT)
    )
    assert kept == 1 and _september(months_engine) == [late.id]
    assert _logs(months_engine) == (0, *_MONTH_LOGGED)
    with months_engine.connect() as conn:
        tries = "SELECT count(*) FROM attempts WHERE request_id = :id"
        assert conn.execute(text(tries), {"id": late.id}).scalar_one() == 2
        # the month keeps logging its writes, into an emptied log (collector.db.month_log)
        assert conn.scalar(text("SELECT count(*) FROM requests_p202609_touched")) == 0
        # the month's keys are the parents' and the range checks that spared the attach its
        # scan are gone
        keys = (
            "SELECT count(*) FILTER (WHERE conparentid = 0), count(*) FROM pg_constraint "
            "WHERE conrelid = 'requests_p202609'::regclass AND contype IN ('f', 'c')"
        )
        assert tuple(conn.execute(text(keys)).one()) == (0, 2)
    assert release_old_pairs(months_engine) == 4  # three priced and the repriced one
    assert len(_september(months_engine)) == 1


def test_many_rows_changed_during_a_stage_are_caught_up_before_the_lock(
    months_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    owned = _owned(months_engine)
    unpriced = [_unpriced(d, owned) for d in range(1, 8)]
    write_batch(months_engine, unpriced)
    month_stage.stage_month(months_engine, SEP, OCT)
    with months_engine.begin() as conn:  # a reprice of the month's kept rows
        conn.execute(
            text(
                "UPDATE requests SET cost_usd = 0.25, cost_source = 'catalog' WHERE id = ANY(:ids)"
            ),
            {"ids": [e.id for e in unpriced[:5]]},
        )
    monkeypatch.setattr(month_stage, "CATCH_UP_ROWS", 2)
    month_stage.catch_up_until_few(months_engine, SEP, OCT)
    with months_engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM requests_p202609_touched")) == 0
        assert conn.scalar(text("SELECT count(*) FROM requests_p202609_next")) == 2
    partitions.with_lock_retry(
        months_engine, partial(month_stage.swap_month, month=SEP, cutoff=OCT)
    )
    assert _september(months_engine) == sorted(e.id for e in unpriced[5:])


@pytest.mark.parametrize("retention_days", [None, 1])
def test_a_stage_left_by_a_stopped_pass_is_cleared_by_the_next(
    months_engine: Engine, retention_days: int | None
) -> None:
    owned = _owned(months_engine)
    write_batch(months_engine, [_event(SEP + timedelta(days=1), **owned), _unpriced(2, owned)])
    month_stage.stage_month(months_engine, SEP, OCT)  # then the pass stops
    write_batch(months_engine, [_unpriced(3, owned)])  # logged
    check(months_engine.url.render_as_string(hide_password=False))  # no drift from the models
    maintain(months_engine, retention_days, NOV + timedelta(days=2))
    # retention off: nothing left; on: the month was cut, and its new pair logs its writes
    assert _logs(months_engine) == (
        (0, None, None) if retention_days is None else (0, *_MONTH_LOGGED)
    )
    # the recorder still writes into the month (no trigger is left pointing at a missing log)
    write_batch(months_engine, [_unpriced(4, owned)])
    assert len(_september(months_engine)) == (4 if retention_days is None else 3)


def test_a_stage_of_a_month_keeping_nothing_drops_it(months_engine: Engine) -> None:
    owned = _owned(months_engine)
    write_batch(months_engine, [_event(SEP + timedelta(days=d), **owned) for d in (1, 2)])
    result = apply_retention(months_engine, 1, NOV + timedelta(days=1))
    assert result.requests_deleted == 2 and SEP in result.months_dropped
    with months_engine.connect() as conn:
        assert SEP not in partitions.months(conn)
    assert _logs(months_engine) == (0, None, None)


_SCANS = (
    "SELECT relid, seq_scan FROM pg_stat_xact_user_tables "
    "WHERE schemaname = current_schema() AND relname = ANY(:names)"
)


def test_the_swap_reads_neither_the_kept_rows_nor_the_default_pair(months_engine: Engine) -> None:
    owned = _owned(months_engine)
    kept = [_unpriced(d, owned) for d in (1, 2, 3)]
    write_batch(months_engine, [*kept, _event(SEP + timedelta(days=4), **owned)])
    write_batch(months_engine, [make_event(id="not-a-ulid", started_at=SEP)])  # the default's
    month_stage.stage_month(months_engine, SEP, OCT)
    names = ["requests_p202609", "attempts_p202609", "requests_pdefault", "attempts_pdefault"]
    with months_engine.connect() as conn, conn.begin():
        conn.execute(text("SET LOCAL lock_timeout = '2s'"))
        # this connection's scans of the tables by oid (it counts earlier ones not yet sent)
        staged = [*names, "requests_p202609_next", "attempts_p202609_next"]
        before = dict(conn.execute(text(_SCANS), {"names": staged}).tuples().all())
        assert month_stage.swap_month(conn, SEP, OCT) == 3
        after = dict(conn.execute(text(_SCANS), {"names": names}).tuples().all())
        # the range checks spare the attach its scan of the month and of the default pair,
        # and the staged keys, checked during the stage, are adopted without reading a row
        assert {oid: after[oid] - before.get(oid, 0) for oid in after} == dict.fromkeys(after, 0)
        assert len(after) == 4
    assert _september(months_engine) == sorted(e.id for e in kept)


def test_the_swap_never_holds_the_parents_while_it_waits_for_the_key_tables(
    months_engine: Engine,
) -> None:
    owned = _owned(months_engine)
    write_batch(months_engine, [_unpriced(1, owned), _event(SEP + timedelta(days=2), **owned)])
    month_stage.stage_month(months_engine, SEP, OCT)
    swapped: list[int] = []
    with months_engine.connect() as reader:
        reader.begin()
        reader.execute(text("SELECT count(*) FROM api_keys"))  # a read holding its lock
        swap = threading.Thread(
            target=lambda: swapped.append(
                partitions.with_lock_retry(
                    months_engine, partial(month_stage.swap_month, month=SEP, cutoff=OCT)
                )
            )
        )
        swap.start()
        waiting = (
            "SELECT pid FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock' "
            "AND relation = 'api_keys'::regclass"
        )
        held = (
            "SELECT count(*) FROM pg_locks WHERE pid = :pid AND granted "
            "AND relation = ANY(ARRAY['requests'::regclass, 'attempts'::regclass])"
        )
        for _ in range(200):
            pid = reader.execute(text(waiting)).scalar()
            if pid is not None:
                break
            time.sleep(0.01)
        assert pid is not None, "the swap never waited for the reader of api_keys"
        assert reader.execute(text(held), {"pid": pid}).scalar_one() == 0
        reader.rollback()
    swap.join(timeout=30)
    assert swapped == [1]
