"""The reconciliation queries on both databases: the metered side per UTC day, the stored
bill, and the dashboard's frames."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Engine, delete

from collector import analytics
from collector.db import Attempt, Request
from collector.reconcile import BillItem, Ownership, Tokens, replace_days
from collector.recorder import write_batch
from tests.factories import make_event

DAY = date(2026, 10, 7)


def _at(hour: int, minute: int = 0, day: int = 7) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def test_metered_lines_split_by_utc_day_model_and_upstream(engine: Engine) -> None:
    write_batch(engine, [
        make_event(started_at=_at(0, 0), cost_usd=Decimal("0.1"), cached_tokens=40),
        make_event(started_at=_at(23, 59), cost_usd=Decimal("0.2"), upstream="azure"),
        make_event(started_at=_at(23, 59), cost_usd=Decimal("0.3")),
        make_event(started_at=_at(0, 0, day=8), cost_usd=Decimal("5")),  # the next day
        make_event(started_at=_at(12), outcome="blocked", cost_usd=None, prompt_tokens=0,
                   completion_tokens=0, cost_source="unpriced"),  # never reached OpenAI
        make_event(started_at=_at(13), model_served="acme-ft", cost_usd=None,
                   cost_source="unpriced"),
    ])  # fmt: skip
    raw = analytics.metered_lines(engine, DAY, DAY, by_upstream=True)
    lines = {(m.model, m.upstream): m for m in raw}
    assert set(lines) == {
        ("gpt-4o-mini-2024-07-18", "default"), ("gpt-4o-mini-2024-07-18", "azure"),
        ("acme-ft", "default"),
    }  # fmt: skip
    ours = lines[("gpt-4o-mini-2024-07-18", "default")]
    assert ours.cost_usd == Decimal("0.4") and ours.requests == 2
    assert ours.tokens == Tokens(200, 40, 40)
    unpriced = lines[("acme-ft", "default")]
    assert unpriced.cost_usd == 0 and unpriced.unpriced_requests == 1
    assert unpriced.tokens == Tokens(100, 0, 20)
    # the rollups give the same per model (all booked to one upstream)
    rolled = {m.model: m for m in analytics.metered_lines(engine, DAY, DAY, upstream="default")}
    assert set(rolled) == {"gpt-4o-mini-2024-07-18", "acme-ft"}
    mini = rolled["gpt-4o-mini-2024-07-18"]
    assert mini.cost_usd == Decimal("0.6") and mini.requests == 3
    assert mini.tokens == Tokens(300, 40, 60) and mini.upstream == "default"
    assert rolled["acme-ft"] == unpriced


def test_the_metered_lines_per_upstream_need_no_raw_row(engine: Engine) -> None:
    """Retention may remove a month's requests: its reconciliation by key stays the same."""
    write_batch(engine, [
        make_event(started_at=_at(9), cost_usd=Decimal("0.25"), upstream="azure"),
        make_event(started_at=_at(10), cost_usd=Decimal("0.5"), upstream="azure"),
        make_event(started_at=_at(11), cost_usd=Decimal("1.5")),
        make_event(started_at=_at(12), cost_usd=None, cost_source="unpriced", upstream="azure"),
    ])  # fmt: skip
    before = analytics.metered_lines(engine, DAY, DAY, by_upstream=True)
    with engine.begin() as conn:
        conn.execute(delete(Attempt))
        conn.execute(delete(Request))
    after = analytics.metered_lines(engine, DAY, DAY, by_upstream=True)
    assert sorted(after, key=str) == sorted(before, key=str)
    azure = next(line for line in after if line.upstream == "azure")
    assert (azure.cost_usd, azure.requests, azure.unpriced_requests) == (Decimal("0.75"), 3, 1)


def test_stored_bill_and_frames(engine: Engine) -> None:
    write_batch(engine, [make_event(started_at=_at(10), cost_usd=Decimal("0.5"))])
    items = [
        BillItem(DAY, "costs", "gpt-4o-mini-2024-07-18, input", "gpt-4o-mini-2024-07-18",
                 "proj", "key_gw", billed_usd=Decimal("0.5")),
        BillItem(DAY, "completions", "completions", "gpt-4o-mini-2024-07-18", "proj", "key_gw",
                 input_tokens=100, output_tokens=20, requests=1),
        BillItem(DAY, "costs", "gpt-4o, input", "gpt-4o", "proj", "key_x",
                 billed_usd=Decimal("0.0000000001")),
    ]  # fmt: skip
    replace_days(engine, [DAY, date(2026, 10, 8)], items, _at(20))
    stored, fetched = analytics.stored_bill(engine, DAY, date(2026, 10, 8))
    assert stored == items and fetched == {DAY, date(2026, 10, 8)}
    rec = analytics.reconciliation(engine, DAY, DAY, Ownership({"default": "key_gw"}))
    days = analytics.reconciliation_days(rec)
    assert list(days["coverage"]) == [Decimal(1)]
    assert list(days["unmetered_usd"]) == [Decimal("0.0000000001")]
    assert analytics.largest_differences(rec).empty
    unmetered = analytics.unmetered_spend(rec)
    assert list(unmetered["api_key_id"]) == ["key_x"]
    lines = analytics.reconciliation_lines(rec)
    assert list(lines["kind"]) == ["match"] and list(lines["billed_usd"]) == ["0.5000000000"]
