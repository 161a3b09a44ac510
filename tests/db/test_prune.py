"""Raw-row queries on partitioned PostgreSQL read only the months that hold the range's rows,
and find every row of the range all the same: one whose id is newer than its time (a late
report) keeps its month in, one in the default partition turns pruning off."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text

from collector import analytics as qa
from collector.db import make_engine, partitions
from collector.db.prune import months_condition
from collector.recorder import UsageEvent, ulid, write_batch
from tests.factories import make_event

SEP, OCT, NOV = (datetime(2026, m, 1, tzinfo=UTC) for m in (9, 10, 11))
_rng = random.Random(3)


def _event(at: datetime, made: datetime | None = None, **overrides: Any) -> UsageEvent:
    """Started at ``at``, its id made at ``made`` (default ``at``)."""
    ms = int((made or at).timestamp() * 1000)
    return make_event(id=ulid(ms, _rng.getrandbits(80)), started_at=at, **overrides)


def _months(engine: Engine, start: datetime, end: datetime) -> list[str]:
    """The partitions a cost-sorted page over [start, end) reads, from its plan."""
    with engine.connect() as conn:
        cond = months_condition(conn, start, end)
        assert cond is not None
        where = cond.compile(conn, compile_kwargs={"literal_binds": True})
        plan = conn.execute(
            text(f"EXPLAIN SELECT id FROM requests WHERE {where} ORDER BY cost_usd DESC LIMIT 5")
        ).scalars()
        return sorted({p for line in plan for p in _leaves(line)})


def _leaves(line: str) -> list[str]:
    return [word for word in line.replace("(", " ").split() if partitions.is_leaf(word)]


def _costliest(engine: Engine, start: datetime, end: datetime) -> list[str]:
    df, total = qa.requests_page(engine, qa.Filters(start, end), page_size=100, sort_by="cost_usd")
    assert len(df) == total
    return list(df["id"])


DEFAULT = "requests_pdefault"  # never left out: no probe asks it


def test_a_range_reads_only_the_months_holding_its_rows(months_engine: Engine) -> None:
    events = [_event(month + timedelta(days=d)) for month in (SEP, OCT, NOV) for d in (1, 20)]
    late = _event(OCT + timedelta(days=25), made=NOV + timedelta(days=2))  # reported late
    write_batch(months_engine, [*events, late])
    assert _months(months_engine, NOV, NOV + timedelta(days=30)) == ["requests_p202611", DEFAULT]
    assert _months(months_engine, SEP, SEP + timedelta(days=30)) == ["requests_p202609", DEFAULT]
    # October's range holds the late row, in November's partition: both are read
    assert _months(months_engine, OCT, NOV) == ["requests_p202610", "requests_p202611", DEFAULT]
    by_cost = _costliest(months_engine, OCT, NOV)
    assert sorted(by_cost) == sorted([e.id for e in events[2:4]] + [late.id])
    assert _costliest(months_engine, SEP, NOV + timedelta(days=30)) != []


def test_a_range_with_no_row_reads_no_month(months_engine: Engine) -> None:
    write_batch(months_engine, [_event(SEP + timedelta(days=1))])
    assert _months(months_engine, NOV, NOV + timedelta(days=5)) == [DEFAULT]
    assert _costliest(months_engine, NOV, NOV + timedelta(days=5)) == []


def test_the_default_partition_is_always_read(months_engine: Engine) -> None:
    odd = make_event(id="not-a-ulid", started_at=OCT + timedelta(days=3))
    write_batch(months_engine, [_event(SEP + timedelta(days=1)), odd])
    assert _months(months_engine, OCT, NOV) == [DEFAULT]
    assert _costliest(months_engine, OCT, NOV) == ["not-a-ulid"]


def test_a_month_list_gone_stale_loses_no_row_and_raises_nothing(
    months_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The months are listed, then probed: a month created in between (not listed) is read
    all the same; a listed month whose partition went (a retention cut) turns pruning off
    for that query, and the caller's transaction goes on."""
    rows = [_event(month + timedelta(days=2)) for month in (SEP, OCT, NOV)]
    write_batch(months_engine, rows)
    monkeypatch.setattr(partitions, "months", lambda conn: [SEP, OCT])  # NOV created after
    assert _months(months_engine, NOV, NOV + timedelta(days=30)) == [
        "requests_p202611", "requests_p202612", "requests_p202701", "requests_p202702", DEFAULT,
    ]  # fmt: skip
    assert _costliest(months_engine, NOV, NOV + timedelta(days=30)) == [rows[2].id]
    gone = datetime(2026, 6, 1, tzinfo=UTC)  # listed, but no such partition any more
    monkeypatch.setattr(partitions, "months", lambda conn: [gone, SEP, OCT, NOV])
    with months_engine.connect() as conn:
        conn.execute(text("SET lock_timeout = '7s'"))
        assert months_condition(conn, SEP, NOV) is None
        assert conn.execute(text("SELECT count(*) FROM requests")).scalar_one() == 3
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "7s"
    assert sorted(_costliest(months_engine, SEP, NOV + timedelta(days=30))) == sorted(
        e.id for e in rows
    )


def test_a_probe_leaves_the_callers_lock_timeout_as_it_was(months_engine: Engine) -> None:
    write_batch(months_engine, [_event(SEP + timedelta(days=2))])
    with months_engine.connect() as conn:
        conn.execute(text("SET LOCAL lock_timeout = '3s'"))
        assert months_condition(conn, SEP, OCT) is not None
        assert conn.execute(text("SHOW lock_timeout")).scalar_one() == "3s"


def test_sqlite_and_plain_tables_prune_nothing(tmp_path: Any) -> None:
    from collector.db import upgrade_head

    url = f"sqlite:///{tmp_path / 'x.db'}"
    upgrade_head(url)
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            assert months_condition(conn, SEP, OCT) is None
    finally:
        eng.dispose()


def test_reprice_reads_the_window_by_month_and_misses_no_late_row(months_engine: Engine) -> None:
    from collector.db import session_scope
    from collector.pricing import PriceOverride, add_override
    from collector.pricing.reprice import RepriceWindow, reprice

    unpriced: dict[str, Any] = {"model_served": "ft:custom", "cost_usd": None}
    unpriced["cost_source"] = "unpriced"
    october = [_event(OCT + timedelta(days=d), **unpriced) for d in (1, 2, 3)]
    late = _event(OCT + timedelta(days=4), made=NOV + timedelta(days=1), **unpriced)
    others = [_event(m + timedelta(days=5), **unpriced) for m in (SEP, NOV)]
    write_batch(months_engine, [*october, late, *others])
    with session_scope(months_engine) as session:
        add_override(session, PriceOverride(
            id="", model="ft:custom", effective_from=SEP, effective_to=None,
            input_per_1m=Decimal("1"), cached_input_per_1m=None, output_per_1m=Decimal("2"),
        ))  # fmt: skip
    done = reprice(
        months_engine, RepriceWindow(OCT, NOV), now=NOV + timedelta(days=20), batch_size=2
    )
    assert (done.scanned, done.newly_priced) == (4, 4)  # October's three and the late one
    with months_engine.connect() as conn:
        left = conn.execute(text("SELECT id FROM requests WHERE cost_usd IS NULL")).scalars()
        assert sorted(left) == sorted(e.id for e in others)
