"""Spend by provider: exact sums read from ``requests`` (the rollups are not split by it),
on both databases, for the Spend page, the chargeback and the FOCUS export."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.analytics import Filters, spend_over_time, top_spenders
from collector.recorder import write_batch
from collector.reports import chargeback, focus_rows
from tests.factories import make_event, make_project

H10 = datetime(2026, 11, 5, 10, tzinfo=UTC)
H11 = H10 + timedelta(hours=1)
NOV = Filters(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture
def mixed(engine: Engine) -> int:
    """Two OpenAI answers, two Claude answers (one a fallback), one unpriced Gemini answer."""
    pid = make_project(engine, "acme")
    claude = {"model_requested": "gpt-4.1", "model_served": "claude-sonnet-4-5-20250929"}
    events = [
        make_event(started_at=H10, project_id=pid, cost_usd=Decimal("0.001")),
        make_event(started_at=H11, project_id=pid, cost_usd=Decimal("0.002")),
        make_event(started_at=H10, project_id=pid, provider="anthropic", cost_usd=Decimal("0.0105"),
                   prompt_tokens=1000, completion_tokens=500, **claude),
        make_event(started_at=H11, project_id=pid, provider="anthropic", cost_usd=Decimal("0.02"),
                   cached_tokens=40, **claude),
        make_event(started_at=H11, project_id=pid, provider="google", model_requested="gemini-x",
                   model_served="gemini-x", cost_usd=None, cost_source="unpriced"),
    ]  # fmt: skip
    assert write_batch(engine, events) == len(events)
    return pid


def test_spend_over_time_by_provider_is_exact_per_hour(engine: Engine, mixed: int) -> None:
    df = spend_over_time(engine, NOV, "provider", "hour")
    rows = [(r["ts"].to_pydatetime(), r["group"], r["cost_usd"], r["requests"])
            for r in df.to_dict("records")]  # fmt: skip
    assert rows == [
        (H10, "anthropic", Decimal("0.0105"), 1),
        (H10, "openai", Decimal("0.001"), 1),
        (H11, "anthropic", Decimal("0.02"), 1),
        (H11, "google", Decimal(0), 1),
        (H11, "openai", Decimal("0.002"), 1),
    ]


def test_top_spenders_by_provider_most_first(engine: Engine, mixed: int) -> None:
    df = top_spenders(engine, NOV, "provider", 10)
    assert list(zip(df["group"], df["cost_usd"], df["requests"], strict=True)) == [
        ("anthropic", Decimal("0.0305"), 2),
        ("openai", Decimal("0.003"), 2),
        ("google", Decimal(0), 1),
    ]


def test_a_project_filter_applies_to_provider_sums(engine: Engine, mixed: int) -> None:
    other = Filters(NOV.start, NOV.end, project_ids=(mixed + 1,))
    assert top_spenders(engine, other, "provider", 10).empty


def test_chargeback_by_provider_keeps_unpriced_unknown(engine: Engine, mixed: int) -> None:
    report = chargeback(engine, "2026-11", "provider")
    by = {r.group: r for r in report.rows}
    assert list(by) == ["anthropic", "google", "openai"]
    assert (by["anthropic"].cost_usd, by["anthropic"].requests) == (Decimal("0.0305"), 2)
    assert by["anthropic"].cached_tokens == 40
    assert (by["google"].cost_usd, by["google"].unpriced_requests) == (None, 1)
    assert report.totals.cost_usd == Decimal("0.0335")


def test_focus_names_the_provider_of_each_model(engine: Engine, mixed: int) -> None:
    rows = {r["SkuId"]: r for r in focus_rows(engine, "2026-11")}
    claude = rows["claude-sonnet-4-5-20250929"]
    assert (claude["ProviderName"], claude["PublisherName"]) == ("Anthropic", "Anthropic")
    assert (claude["InvoiceIssuerName"], claude["ServiceName"]) == ("Anthropic", "Anthropic API")
    assert rows["gemini-x"]["ProviderName"] == "Google"
    assert rows["gpt-4o-mini-2024-07-18"]["ProviderName"] == "OpenAI"
