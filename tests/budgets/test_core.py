"""The pure budget core: scopes, periods (DST-correct), thresholds, evaluation, forecast, cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from collector.budgets import (
    BudgetConfigError,
    BudgetSpec,
    Mode,
    Subject,
    TokenPrices,
    check_no_overlap,
    evaluate,
    forecast,
    matches,
    output_cap,
    parse_amount,
    parse_period,
    parse_scope,
    parse_thresholds,
    parse_timezone,
    period_window,
    reset_time,
    worst_case_cost,
)

NY = ZoneInfo("America/New_York")
UTC_TZ = ZoneInfo("UTC")


def spec(**kw: object) -> BudgetSpec:
    base: dict[str, object] = {
        "name": "b", "scope": parse_scope("global"), "period": parse_period("month"),
        "amount_usd": Decimal("100"), "mode": Mode.HARD,
    }  # fmt: skip
    base.update(kw)
    return BudgetSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("global", "global", None),
        ("project:acme", "project", "acme"),
        ("key:sk-ss-ab12", "key", "sk-ss-ab12"),
        ("user:u-42", "user", "u-42"),
        ("model:gpt-4o", "model", "gpt-4o"),
        ("tag:team=search", "tag", "team=search"),
    ],
)
def test_parse_scope(text: str, kind: str, value: str | None) -> None:
    scope = parse_scope(text)
    assert (scope.kind.value, scope.value) == (kind, value)
    assert str(scope) == text


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("team:x", "unknown scope kind"),
        ("project:", "needs a value"),
        ("tag:team", "tag:KEY=VALUE"),
        ("everything", "unknown scope"),
    ],
)
def test_bad_scopes(text: str, needle: str) -> None:
    with pytest.raises(BudgetConfigError, match=needle):
        parse_scope(text)


def test_scope_matching() -> None:
    subject = Subject("acme", "sk-ss-ab", "u1", "gpt-4o-2024-08-06", {"team": "search"})
    assert matches(parse_scope("global"), subject)
    assert matches(parse_scope("project:acme"), subject)
    assert not matches(parse_scope("project:other"), subject)
    assert matches(parse_scope("model:gpt-4o"), subject)  # dated snapshot of gpt-4o
    assert not matches(parse_scope("model:gpt-4o-mini"), subject)
    assert not matches(parse_scope("model:gpt-4o"), Subject(model="gpt-4o-mini-2024-07-18"))
    assert matches(parse_scope("tag:team=search"), subject)
    assert not matches(parse_scope("tag:team=ads"), subject)
    assert not matches(parse_scope("user:u2"), subject)


@pytest.mark.parametrize("text", ["year", "rolling:0d", "rolling:7", "rolling:400d", ""])
def test_bad_periods(text: str) -> None:
    with pytest.raises(BudgetConfigError):
        parse_period(text)


def test_day_window_across_dst_start_is_23_hours() -> None:
    now = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)  # US DST starts 2026-03-08 02:00 local
    w = period_window(parse_period("day"), now, NY)
    assert w.start == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # midnight EST = 05:00 UTC
    assert w.end == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)  # midnight EDT = 04:00 UTC
    assert w.length == timedelta(hours=23)


def test_day_window_across_dst_end_is_25_hours() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    w = period_window(parse_period("day"), now, NY)
    assert w.length == timedelta(hours=25)
    assert w.start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def test_day_window_uses_local_date_not_utc_date() -> None:
    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # still 2026-03-09 22:00 in New York
    w = period_window(parse_period("day"), now, NY)
    assert w.start == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


def test_week_starts_on_iso_monday() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
    w = period_window(parse_period("week"), now, UTC_TZ)
    assert w.start == datetime(2026, 11, 16, tzinfo=UTC)  # Monday
    assert w.end == datetime(2026, 11, 23, tzinfo=UTC)


def test_month_window_wraps_the_year_and_follows_dst() -> None:
    w = period_window(parse_period("month"), datetime(2026, 12, 31, 23, tzinfo=UTC), UTC_TZ)
    assert (w.start, w.end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    march = period_window(parse_period("month"), datetime(2026, 3, 15, tzinfo=UTC), NY)
    assert march.start == datetime(2026, 3, 1, 5, tzinfo=UTC)  # EST
    assert march.end == datetime(2026, 4, 1, 4, tzinfo=UTC)  # EDT


def test_rolling_window_is_last_n_local_days() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    period = parse_period("rolling:7d")
    w = period_window(period, now, UTC_TZ)
    assert w.start == datetime(2026, 11, 16, tzinfo=UTC)
    assert w.end == datetime(2026, 11, 23, tzinfo=UTC)
    assert reset_time(period, now, UTC_TZ) == datetime(2026, 11, 23, tzinfo=UTC)


def test_naive_now_is_rejected_and_bad_timezone_is_clear() -> None:
    with pytest.raises(BudgetConfigError, match="aware"):
        period_window(parse_period("day"), datetime(2026, 1, 1), UTC_TZ)
    with pytest.raises(BudgetConfigError, match="unknown timezone"):
        parse_timezone("Mars/Olympus")


@pytest.mark.parametrize(
    ("text", "needle"),
    [("80,50", "ascending"), ("50,50", "ascending"), ("0,50", "out of range"),
     ("50,abc", "bad thresholds"), ("", "at least one")],
)  # fmt: skip
def test_bad_thresholds(text: str, needle: str) -> None:
    with pytest.raises(BudgetConfigError, match=needle):
        parse_thresholds(text)


def test_thresholds_and_amounts() -> None:
    assert parse_thresholds("50, 80,100,120") == (50, 80, 100, 120)
    assert parse_amount("12.50") == Decimal("12.50")
    for bad in ("-1", "0", "abc", "NaN"):
        with pytest.raises(BudgetConfigError):
            parse_amount(bad)
    with pytest.raises(BudgetConfigError, match="positive"):
        spec(amount_usd=Decimal("-5"))


def test_overlap_same_scope_period_mode_is_refused() -> None:
    a = spec(name="a")
    check_no_overlap(spec(name="b", mode=Mode.SOFT), [a])  # different mode: fine
    check_no_overlap(spec(name="c", period=parse_period("week")), [a])
    with pytest.raises(BudgetConfigError, match="already covers global per month"):
        check_no_overlap(spec(name="d"), [a])


def test_evaluate_exact_status() -> None:
    b = spec(amount_usd=Decimal("10.00"))
    now = datetime(2026, 11, 16, tzinfo=UTC)  # 15 of 30 days elapsed
    w = period_window(b.period, now, UTC_TZ)
    s = evaluate(b, w, Decimal("8.0000000001"), Decimal("1.5"), now)
    assert s.remaining_usd == Decimal("0.4999999999")
    assert s.crossed == (50, 80)
    assert s.percent == Decimal("80.00")
    assert s.forecast.projected_usd == Decimal("16.0000000002")
    assert s.forecast.rate_usd_per_hour == Decimal("0.0222222222")  # 8.0000000001 / 360 h
    assert evaluate(b, w, Decimal("7.9999999999"), Decimal(0), now).crossed == (50,)


def test_forecast_edges() -> None:
    w = period_window(parse_period("day"), datetime(2026, 1, 1, tzinfo=UTC), UTC_TZ)
    at_start = forecast(Decimal("3"), w, w.start)
    assert (at_start.projected_usd, at_start.elapsed_fraction) == (Decimal("3"), Decimal(0))
    at_end = forecast(Decimal("3"), w, w.end + timedelta(hours=1))
    assert at_end.projected_usd == Decimal("3")
    quarter = forecast(Decimal("1"), w, w.start + timedelta(hours=6))
    assert quarter.projected_usd == Decimal("4")


def test_worst_case_cost_is_exact_and_rounds_up() -> None:
    prices = TokenPrices(Decimal("2.50"), Decimal("10.00"))
    assert worst_case_cost(prices, 1000, 500) == Decimal("0.0075")
    assert worst_case_cost(prices, 1000, 500, n=3) == Decimal("0.0175")
    tiny = TokenPrices(Decimal("0.15"), Decimal("0.60"))
    assert worst_case_cost(tiny, 1, 0) == Decimal("0.0000001500")
    assert worst_case_cost(TokenPrices(Decimal("0.000001"), Decimal(0)), 1, 0) == Decimal("1e-10")
    with pytest.raises(ValueError):
        worst_case_cost(prices, -1, 0)


def test_output_caps() -> None:
    assert output_cap("gpt-4o-mini-2024-07-18", 999) == 16384
    assert output_cap("gpt-4.1-nano", 999) == 32768
    assert output_cap("o3", 999) == 100000
    assert output_cap("some-local-model", 999) == 999
