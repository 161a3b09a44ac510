"""The demo's history generator: deterministic, exactly priced, and shaped like real traffic."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from collector.demo import KEYS, UNPRICED_MODEL, DemoKey, generate_history
from collector.demo._faults import MAX_ATTEMPTS, incidents_before
from collector.demo._history import DIURNAL, poisson, ulid
from collector.pricing import compute_cost
from collector.recorder import UsageEvent
from collector.usage import Usage

END = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # a Friday
START = END - timedelta(days=14)
DEMO_KEYS = tuple(DemoKey(p, api_key_id=i + 1, project_id=i // 2 + 1) for i, p in enumerate(KEYS))


@pytest.fixture(scope="module")
def events() -> list[UsageEvent]:
    return list(generate_history(DEMO_KEYS, start=START, end=END, seed=11))


def test_same_seed_same_history_other_seed_other_history(events: list[UsageEvent]) -> None:
    short = END - timedelta(days=1)
    again = list(generate_history(DEMO_KEYS, start=short, end=END, seed=11))
    twice = list(generate_history(DEMO_KEYS, start=short, end=END, seed=11))
    other = list(generate_history(DEMO_KEYS, start=short, end=END, seed=12))
    assert again == twice
    assert [e.id for e in again] != [e.id for e in other]


def test_events_are_in_time_order_inside_the_window(events: list[UsageEvent]) -> None:
    times = [e.started_at for e in events]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < END
    assert len({e.id for e in events}) == len(events)
    assert all(len(e.id) == 26 for e in events)


def test_costs_are_exact_catalog_costs_of_the_serving_model(events: list[UsageEvent]) -> None:
    for e in events:
        if e.model_served is None:  # never answered: nothing consumed
            assert e.cost_usd == Decimal(0) and e.cost_source == "computed"
            assert e.prompt_tokens == e.completion_tokens == 0
            continue
        usage = Usage(
            prompt_tokens=e.prompt_tokens,
            completion_tokens=e.completion_tokens,
            cached_tokens=e.cached_tokens,
            reasoning_tokens=e.reasoning_tokens,
        )
        expected = compute_cost(
            usage, e.model_served, e.started_at, batch=e.batch, service_tier=e.service_tier,
            estimated=e.cost_source == "estimated",
        )  # fmt: skip
        assert (e.cost_usd, e.cost_source, e.price_id) == (
            expected.cost_usd,
            expected.cost_source.value,
            expected.price_id,
        )
        assert e.attempts[-1].cost_usd == e.cost_usd


def test_a_cached_gpt_4o_mini_request_by_hand(events: list[UsageEvent]) -> None:
    """(prompt − cached) × $0.15 + cached × $0.075 + completion × $0.60 per 1M tokens."""
    e = next(
        e for e in events
        if e.model_served == "gpt-4o-mini-2024-07-18" and e.cached_tokens and e.outcome == "success"
    )  # fmt: skip
    uncached = e.prompt_tokens - e.cached_tokens
    by_hand = (
        uncached * Decimal("0.15") + e.cached_tokens * Decimal("0.075")
        + e.completion_tokens * Decimal("0.60")
    ) / 1_000_000  # fmt: skip
    assert e.cost_usd == by_hand


def test_unpriced_model_is_never_a_silent_zero(events: list[UsageEvent]) -> None:
    unpriced = [e for e in events if e.model_served == UNPRICED_MODEL]
    assert unpriced
    assert all(e.cost_usd is None and e.cost_source == "unpriced" for e in unpriced)
    priced = [e for e in events if e.model_served and e.model_served != UNPRICED_MODEL]
    assert all(e.cost_usd is not None for e in priced)


def test_usage_follows_openai_inclusion_rules(events: list[UsageEvent]) -> None:
    for e in events:
        assert 0 <= e.cached_tokens <= e.prompt_tokens
        assert 0 <= e.reasoning_tokens <= e.completion_tokens
        if e.cached_tokens:
            assert e.cached_tokens >= 1024 and e.cached_tokens % 128 == 0
        if e.reasoning_tokens:
            assert (e.model_served or "").startswith(("o3", "o4"))
    assert sum(1 for e in events if e.cached_tokens) > 0.1 * len(events)
    assert any(e.reasoning_tokens for e in events)


def test_streams_have_ttft_and_other_requests_do_not(events: list[UsageEvent]) -> None:
    answered = [e for e in events if e.model_served]
    streams = [e for e in answered if e.stream]
    assert 0.2 < len(streams) / len(answered) < 0.8
    assert all(e.ttft_ms is not None and 0 < e.ttft_ms <= e.duration_ms for e in streams)
    assert all(e.ttft_ms is None for e in answered if not e.stream)
    assert not any(e.stream for e in events if e.endpoint == "/v1/embeddings")


def test_attempts_are_numbered_and_sequential(events: list[UsageEvent]) -> None:
    for e in events:
        assert 1 <= len(e.attempts) <= MAX_ATTEMPTS
        assert [a.attempt_no for a in e.attempts] == list(range(1, len(e.attempts) + 1))
        for a, b in zip(e.attempts, e.attempts[1:], strict=False):
            assert b.started_at >= a.started_at + timedelta(milliseconds=a.duration_ms)
        last = e.attempts[-1]
        end = last.started_at + timedelta(milliseconds=last.duration_ms)
        assert end <= e.started_at + timedelta(milliseconds=e.duration_ms + 1)


def test_upstream_faults_are_rare_retried_and_mostly_rescued(events: list[UsageEvent]) -> None:
    n = len(events)
    faulted = [e for e in events if any(a.http_status != 200 for a in e.attempts)]
    client = [e for e in events if e.outcome == "client_error"]
    retried = [e for e in events if len(e.attempts) > 1]
    rescued = [e for e in retried if e.outcome in ("success", "cancelled")]
    failed = [e for e in retried if e.outcome in ("upstream_error", "timeout")]
    assert 0.01 < (len(faulted) - len(client)) / n < 0.04
    assert len(rescued) > len(failed) > 0
    assert 0.001 < len(client) / n < 0.01
    assert all(len(e.attempts) == 1 and e.cost_usd == 0 for e in client)
    outcomes = Counter(e.outcome for e in events)
    assert set(outcomes) == {"success", "client_error", "upstream_error", "timeout", "cancelled"}
    assert outcomes["success"] / n > 0.97


def test_incidents_raise_the_failure_rate(events: list[UsageEvent]) -> None:
    first = incidents_before(END)[0]
    inside = [e for e in events if first.covers(e.started_at, e.model_requested)]
    before = first.start - timedelta(days=1)
    same_model = [e for e in events if e.model_requested == first.model and e.started_at < before]

    def fault_share(group: list[UsageEvent]) -> float:
        return sum(len(e.attempts) > 1 for e in group) / len(group)

    assert inside and fault_share(inside) > 5 * fault_share(same_model)


def test_weekly_and_daily_seasonality(events: list[UsageEvent]) -> None:
    by_weekday = Counter(e.started_at.weekday() for e in events)
    weekday_mean = sum(by_weekday[d] for d in range(5)) / 5
    assert by_weekday[5] < 0.6 * weekday_mean and by_weekday[6] < 0.6 * weekday_mean
    by_hour = Counter(e.started_at.hour for e in events if e.started_at.weekday() < 5)
    assert by_hour[15] > 2.5 * by_hour[3]
    assert sum(DIURNAL) == pytest.approx(24)


def test_every_key_and_model_shows_up(events: list[UsageEvent]) -> None:
    with_traffic = {k.api_key_id for k in DEMO_KEYS if k.profile.daily_requests > 0}
    assert {e.api_key_id for e in events} == with_traffic
    models = {c.model for k in KEYS for c in k.calls if k.daily_requests > 0}
    assert {e.model_requested for e in events if e.outcome != "client_error"} == models


def test_poisson_mean_and_ulid_order() -> None:
    rng = random.Random(3)
    for lam in (0.5, 7.0, 120.0):
        draws = [poisson(rng, lam) for _ in range(4000)]
        assert sum(draws) / len(draws) == pytest.approx(lam, rel=0.06)
    assert poisson(rng, 0) == 0
    ids = [ulid(ms, rng) for ms in (1, 2, 10**12, 10**12 + 1)]
    assert ids == sorted(ids) and all(len(i) == 26 for i in ids)


def test_some_work_runs_as_batch_or_flex_at_discounted_prices(events: list[UsageEvent]) -> None:
    """The Spend page's savings need batch and flex rows: cheaper than standard, never streamed."""
    batch = [e for e in events if e.batch and e.cost_usd]
    flex = [e for e in events if e.service_tier == "flex" and e.cost_usd]
    assert len(batch) > 100 and len(flex) > 20
    assert {e.model_served for e in batch} == {"gpt-4o-mini-2024-07-18", "text-embedding-3-large"}
    assert {e.model_served for e in flex} == {"o4-mini-2025-04-16"}
    for e in (*batch[:50], *flex[:50]):
        assert not e.stream
        usage = Usage(e.prompt_tokens, e.completion_tokens, e.cached_tokens, e.reasoning_tokens)
        standard = compute_cost(usage, e.model_served or "", e.started_at).cost_usd
        assert standard is not None and e.cost_usd is not None and e.cost_usd < standard
