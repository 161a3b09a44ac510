"""Spend over time and top spenders: exact Decimal sums from the rollups, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.analytics import Filters, UnsupportedFilterError, spend_over_time, top_spenders
from tests.analytics.conftest import NOV1_13, Seeded

WHOLE = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
OCT31_DAY = datetime(2026, 10, 31, tzinfo=UTC)
NOV1_DAY = datetime(2026, 11, 1, tzinfo=UTC)
NOV2_DAY = datetime(2026, 11, 2, tzinfo=UTC)


def test_spend_per_project_per_day_is_exact(engine: Engine, seeded: Seeded) -> None:
    df = spend_over_time(engine, WHOLE, "project", "day")
    rows = [
        (r["ts"].to_pydatetime(), r["group"], r["cost_usd"], r["requests"])
        for r in df.to_dict("records")
    ]
    assert rows == [
        (OCT31_DAY, "alpha", Decimal("0.00005"), 1),
        (NOV1_DAY, "alpha", Decimal("0.000192"), 11),
        (NOV1_DAY, "beta", Decimal("0.2444444244"), 200),
        (NOV2_DAY, "alpha", Decimal("0.00001"), 1),
    ]
    assert all(isinstance(c, Decimal) for c in df["cost_usd"])
    assert df["cost_usd"].dtype == object


def test_spend_per_tag_counts_each_tag_of_a_request(engine: Engine, seeded: Seeded) -> None:
    df = spend_over_time(engine, WHOLE, "tag", "hour")
    rows = {
        (r["ts"].to_pydatetime(), r["group"]): (r["cost_usd"], r["requests"])
        for r in df.to_dict("records")
    }
    assert rows == {
        (NOV1_13, "env=prod"): (Decimal("0.06172839"), 50),
        (NOV1_13, "team=ml"): (Decimal("0.2444444244"), 200),
    }


def test_spend_by_model_under_a_tag_filter_reads_tag_rollups(
    engine: Engine, seeded: Seeded
) -> None:
    f = Filters(WHOLE.start, WHOLE.end, tags=("env=prod",))
    df = spend_over_time(engine, f, "model", "day")
    assert list(zip(df["group"], df["cost_usd"], df["requests"], strict=True)) == [
        ("gpt-4o", Decimal("0.06172839"), 50)
    ]


def test_filters_restrict_by_key_user_and_model(engine: Engine, seeded: Seeded) -> None:
    by_key = Filters(WHOLE.start, WHOLE.end, api_key_ids=(seeded.key_a,))
    assert sum(spend_over_time(engine, by_key, "model", "day")["cost_usd"]) == Decimal("0.000252")
    by_user = Filters(WHOLE.start, WHOLE.end, end_users=("u2",), models=("mystery-model",))
    df = spend_over_time(engine, by_user, "user", "hour")
    assert list(df["group"]) == ["u2"]
    assert list(df["cost_usd"]) == [Decimal(0)]
    assert list(df["requests"]) == [1]


def test_top_spenders_by_model_most_first(engine: Engine, seeded: Seeded) -> None:
    df = top_spenders(engine, WHOLE, "model", 2)
    assert list(zip(df["group"], df["cost_usd"], df["requests"], strict=True)) == [
        ("gpt-4o", Decimal("0.2444444244"), 199),
        ("gpt-4o-mini-2024-07-18", Decimal("0.000252"), 13),
    ]


def test_top_spenders_by_key_labels_keys_by_prefix_and_id(engine: Engine, seeded: Seeded) -> None:
    df = top_spenders(engine, WHOLE, "key", 10)
    assert list(df["group"]) == [f"sk-b (#{seeded.key_b})", f"sk-a (#{seeded.key_a})"]


def test_tags_with_key_filter_or_key_grouping_are_refused(engine: Engine, seeded: Seeded) -> None:
    tagged = Filters(WHOLE.start, WHOLE.end, tags=("team=ml",))
    with pytest.raises(UnsupportedFilterError):
        top_spenders(engine, tagged, "key", 5)
    with pytest.raises(UnsupportedFilterError):
        spend_over_time(engine, Filters(WHOLE.start, WHOLE.end, end_users=("u2",)), "tag", "day")


def test_aggregates_widen_the_range_to_whole_hours(engine: Engine, seeded: Seeded) -> None:
    narrow = Filters(NOV1_13 + timedelta(minutes=30), NOV1_13 + timedelta(minutes=31))
    df = spend_over_time(engine, narrow, "project", "hour")
    assert list(df["requests"]) == [200]


def test_empty_range_gives_the_columns_and_no_rows(engine: Engine, seeded: Seeded) -> None:
    f = Filters(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC))
    df = spend_over_time(engine, f, "project", "day")
    assert df.empty
    assert list(df.columns) == [
        "ts", "group", "cost_usd", "requests", "prompt_tokens", "completion_tokens"
    ]  # fmt: skip


def test_partial_days_read_hours_and_whole_days_read_the_daily_copy(
    engine: Engine, seeded: Seeded
) -> None:
    # [Oct 31 23:15, Nov 2 00:20): hourly edges around one whole day (Nov 1) from daily rollups
    f = Filters(
        datetime(2026, 10, 31, 23, 15, tzinfo=UTC), datetime(2026, 11, 2, 0, 20, tzinfo=UTC)
    )
    mixed = top_spenders(engine, f, "project", 10)
    assert list(zip(mixed["group"], mixed["cost_usd"], mixed["requests"], strict=True)) == [
        ("beta", Decimal("0.2444444244"), 200),
        ("alpha", Decimal("0.000252"), 13),
    ]
    hourly = spend_over_time(engine, f, "project", "hour")
    assert sum(hourly["cost_usd"]) == sum(mixed["cost_usd"])
    assert hourly["requests"].sum() == 213
