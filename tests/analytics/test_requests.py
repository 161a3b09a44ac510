"""The paged request table, request detail and filter choices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, event

from collector.analytics import (
    Filters,
    SortBy,
    filter_options,
    request_detail,
    requests_page,
)
from collector.recorder import UsageEvent, write_batch
from tests.analytics.conftest import NOV1_12, NOV2, Seeded
from tests.factories import make_event

WHOLE = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def _order(events: list[UsageEvent]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (e.started_at, e.id), reverse=True)]


def _all_pages(engine: Engine, f: Filters, **kw: object) -> tuple[list[str], set[int]]:
    ids: list[str] = []
    totals: set[int] = set()
    for page in range(1, 100):
        df, total = requests_page(engine, f, page=page, page_size=50, **kw)  # type: ignore[arg-type]
        totals.add(total)
        if df.empty:
            break
        ids += list(df["id"])
    return ids, totals


def test_pages_walk_every_request_newest_first(engine: Engine, seeded: Seeded) -> None:
    ids, totals = _all_pages(engine, WHOLE)
    assert ids == _order(list(seeded.events))
    assert totals == {213}


def test_count_mixes_rollup_hours_and_raw_edges_exactly(engine: Engine, seeded: Seeded) -> None:
    f = Filters(NOV1_12 + timedelta(minutes=5), NOV2 + timedelta(minutes=10, microseconds=1))
    inside = [e for e in seeded.events if f.start <= e.started_at < f.end]
    ids, totals = _all_pages(engine, f)
    assert totals == {len(inside)} == {207}
    assert ids == _order(inside)


def test_outcome_and_project_filters(engine: Engine, seeded: Seeded) -> None:
    df, total = requests_page(engine, WHOLE, page=1, page_size=10, outcome="upstream_error")
    assert total == 2
    assert set(df["outcome"]) == {"upstream_error"}
    beta = Filters(WHOLE.start, WHOLE.end, project_ids=(seeded.beta,))
    df, total = requests_page(engine, beta, page=4, page_size=60)
    assert (total, len(df)) == (200, 20)
    assert set(df["project"]) == {"beta"}


def test_tag_filter_and_search_count_raw_rows(engine: Engine, seeded: Seeded) -> None:
    tagged = Filters(WHOLE.start, WHOLE.end, tags=("env=prod",))
    assert requests_page(engine, tagged, page=1, page_size=10)[1] == 50
    df, total = requests_page(engine, WHOLE, page=1, page_size=10, search=seeded.retried_id)
    assert total == 1
    assert list(df["id"]) == [seeded.retried_id]


def test_ascending_by_id_and_row_contents(engine: Engine, seeded: Seeded) -> None:
    df, _ = requests_page(engine, WHOLE, page=1, page_size=1000, sort_by="id", descending=False)
    assert list(df["id"]) == sorted(e.id for e in seeded.events)
    unpriced = df[df["model"] == "mystery-model"].iloc[0]
    assert unpriced["cost_usd"] is None
    assert unpriced["cost_source"] == "unpriced"
    priced = df[df["id"] == seeded.retried_id].iloc[0]
    assert priced["cost_usd"] == Decimal("0.00003")
    assert priced["key"] == f"sk-a (#{seeded.key_a})"


def test_bad_paging_arguments_are_refused(engine: Engine, seeded: Seeded) -> None:
    with pytest.raises(ValueError):
        requests_page(engine, WHOLE, page=0, page_size=10)
    with pytest.raises(ValueError):
        requests_page(engine, WHOLE, page=1, page_size=10, sort_by="model")  # type: ignore[arg-type]


def test_request_detail_has_attempts_in_order(engine: Engine, seeded: Seeded) -> None:
    detail = request_detail(engine, seeded.retried_id)
    assert detail is not None
    assert detail.request.id == seeded.retried_id
    assert [a.attempt_no for a in detail.attempts] == [1, 2]
    assert [a.cost_usd for a in detail.attempts] == [Decimal("0.000001"), Decimal("0.00003")]
    assert (detail.project_name, detail.key_label) == ("alpha", f"sk-a (#{seeded.key_a})")
    assert request_detail(engine, "no-such-id") is None


def test_filter_options_lists_every_choice(engine: Engine, seeded: Seeded) -> None:
    options = filter_options(engine)
    assert options.projects == ((seeded.alpha, "alpha"), (seeded.beta, "beta"))
    assert options.users == ("u1", "u2")
    assert options.models == ("gpt-4o", "gpt-4o-mini-2024-07-18", "mystery-model")
    assert options.tags == ("env=prod", "team=ml")
    assert len(options.keys) == 2


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize("column", ["cost_usd", "duration_ms"])
def test_sort_by_cost_or_duration_pages_in_a_total_order(
    engine: Engine, seeded: Seeded, column: SortBy, descending: bool
) -> None:
    """Small pages walk every request once, in (value, id) order; no cost comes last."""
    ids: list[str] = []
    for page in range(1, 100):
        df, total = requests_page(
            engine,
            WHOLE,
            page=page,
            page_size=7,
            sort_by=column,
            descending=descending,
        )
        ids += list(df["id"])
        if len(ids) >= total:
            break
    value: Callable[[UsageEvent], Decimal | float | None] = {
        "cost_usd": lambda e: e.cost_usd,
        "duration_ms": lambda e: e.duration_ms,
    }[column]
    known = [e for e in seeded.events if value(e) is not None]
    ranked = sorted(known, key=lambda e: (value(e), e.id), reverse=descending)
    unknown = sorted((e for e in seeded.events if value(e) is None), key=lambda e: e.id,
                     reverse=descending)  # fmt: skip
    assert ids == [e.id for e in [*ranked, *unknown]]


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize(
    ("start", "end", "walks"),
    [
        (WHOLE.start, WHOLE.end, True),  # most of the table: SQLite walks the cost index
        (NOV1_12, NOV1_12 + timedelta(hours=1), False),  # a few rows: ranked by time scan
    ],
)
def test_sort_by_cost_equals_raw_order_whichever_way_sqlite_reads(
    engine: Engine, seeded: Seeded, descending: bool, start: datetime, end: datetime, walks: bool
) -> None:
    """Both plans (index walk, range ranked) page priced rows by (cost, id), then unpriced."""
    unpriced_events = [
        make_event(started_at=NOV1_12 + timedelta(minutes=7 * i), cost_usd=None,
                   cost_source="unpriced", model_served="mystery-model")
        for i in range(9)
    ]  # fmt: skip
    write_batch(engine, unpriced_events)
    events = [*seeded.events, *unpriced_events]
    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        ids, totals = _all_pages(
            engine, Filters(start, end), sort_by="cost_usd", descending=descending
        )
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    inside = [e for e in events if start <= e.started_at < end]
    priced = sorted((e for e in inside if e.cost_usd is not None),
                    key=lambda e: (e.cost_usd, e.id), reverse=descending)  # fmt: skip
    unpriced = sorted((e.id for e in inside if e.cost_usd is None), reverse=descending)
    assert ids == [e.id for e in priced] + unpriced
    assert totals == {len(inside)}
    if engine.dialect.name == "sqlite":
        assert any("(+ (" in s for s in statements) == walks
