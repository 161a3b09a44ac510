"""Overview headline numbers and spend against budgets."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from sqlalchemy import Engine

from collector.analytics import Filters, budget_burndown, budget_status, overview, period_window
from collector.db import Budget
from collector.db.engine import session_scope
from tests.analytics.conftest import Seeded

WHOLE = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
NOW = datetime(2026, 11, 2, 0, 30, tzinfo=UTC)  # a Monday


def test_overview_headline_numbers(engine: Engine, seeded: Seeded) -> None:
    stats = overview(engine, WHOLE, NOW)
    assert stats.spend_today_usd == Decimal("0.00001")
    assert stats.spend_month_to_date_usd == Decimal("0.2446464244")
    assert stats.spend_in_range_usd == Decimal("0.2446964244")
    assert stats.requests == 213
    assert stats.error_rate == float(Fraction(5, 213))
    # pooled: 3 bad against 0.005 × 11 + 0.01 × 200 allowed
    assert stats.error_budget_remaining == float(1 - Fraction(3000, 2055))
    assert stats.retry_success_rate == 0.5
    assert stats.unpriced_requests == 1
    assert stats.unpriced_models == ("mystery-model",)
    # 1 request ≤ 100 ms, 207 in (100, 150]: the 95th percentile interpolates in that bucket
    assert stats.p95_latency_ms == pytest.approx(100 + 50 * (0.95 * 213 - 1) / 207)


def test_overview_under_a_tag_filter_knows_only_spend(engine: Engine, seeded: Seeded) -> None:
    stats = overview(engine, Filters(WHOLE.start, WHOLE.end, tags=("env=prod",)), NOW)
    assert stats.spend_in_range_usd == Decimal("0.06172839")
    assert stats.spend_month_to_date_usd == Decimal("0.06172839")
    assert stats.spend_today_usd == Decimal(0)
    assert (stats.requests, stats.error_rate) == (50, 0.0)
    assert stats.p95_latency_ms is None
    assert stats.unpriced_requests is None


def _budget(name: str, kind: str, value: str | None, period: str, amount: str) -> Budget:
    return Budget(
        name=name, scope_kind=kind, scope_value=value, period=period,
        amount_usd=Decimal(amount), mode="soft", thresholds={}, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def test_budget_status_spend_per_scope_and_period(engine: Engine, seeded: Seeded) -> None:
    with session_scope(engine) as session:
        session.add_all(
            [
                _budget("all", "global", None, "month", "1"),
                _budget("beta-today", "project", "beta", "day", "0.1"),
                _budget("ml-week", "tag", "team=ml", "rolling:7d", "5"),
                _budget("key-a", "key", "sk-a", "week", "0.001"),
            ]
        )
    df = budget_status(engine, NOW).set_index("name")
    assert df.loc["all", "spent_usd"] == Decimal("0.2446464244")
    assert df.loc["all", "remaining_usd"] == Decimal("0.7553535756")
    # 24.5 h of a 30-day month elapsed
    assert df.loc["all", "forecast_usd"] == (
        Decimal("0.2446464244") * Decimal(720) / Decimal("24.5")
    ).quantize(Decimal("1E-10"))
    assert df.loc["beta-today", "spent_usd"] == Decimal(0)
    assert df.loc["ml-week", "spent_usd"] == Decimal("0.2444444244")
    assert df.loc["key-a", "spent_usd"] == Decimal("0.00001")
    assert df.loc["key-a", "used_pct"] == 1.0
    assert df.loc["all", "period_start"] == datetime(2026, 11, 1, tzinfo=UTC)


def test_period_windows_follow_local_midnight() -> None:
    late = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # already Nov 2 in Berlin (UTC+1)
    assert period_window("day", None, late, "Europe/Berlin") == (
        datetime(2026, 11, 1, 23, tzinfo=UTC),
        datetime(2026, 11, 2, 23, tzinfo=UTC),
    )
    october = datetime(2026, 10, 15, tzinfo=UTC)  # DST ends Oct 25: the month is 31 d + 1 h
    assert period_window("month", None, october, "Europe/Berlin") == (
        datetime(2026, 9, 30, 22, tzinfo=UTC),
        datetime(2026, 10, 31, 23, tzinfo=UTC),
    )
    assert period_window("rolling:7d", None, NOW) == (
        datetime(2026, 10, 27, tzinfo=UTC),
        datetime(2026, 11, 3, tzinfo=UTC),
    )
    assert period_window("rolling", 2, NOW)[0] == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        period_window("fortnight", None, NOW)


def test_budget_burndown_is_cumulative_per_day(engine: Engine, seeded: Seeded) -> None:
    with session_scope(engine) as session:
        budget = _budget("all", "global", None, "month", "1")
        session.add(budget)
        session.flush()
        budget_id = budget.id
    df = budget_burndown(engine, budget_id, NOW)
    assert [r["ts"].to_pydatetime() for r in df.to_dict("records")] == [
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 2, tzinfo=UTC),
    ]
    assert list(df["spent_usd"]) == [Decimal("0.2446364244"), Decimal("0.00001")]
    assert list(df["cumulative_usd"]) == [Decimal("0.2446364244"), Decimal("0.2446464244")]
    assert budget_burndown(engine, budget_id + 1000, NOW).empty
