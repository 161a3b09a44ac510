"""Chargeback rows, exact totals that reconcile, and the FOCUS export, on both databases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.analytics import Filters, overview
from collector.recorder import write_batch
from collector.reports import (
    FOCUS_COLUMNS,
    ChargebackRow,
    chargeback,
    chargeback_csv,
    chargeback_json,
    focus_rows,
    parse_month,
    render_report,
)
from tests.analytics.conftest import Seeded
from tests.factories import make_event

NOV_TOTAL = Decimal("0.2446464244")


def test_chargeback_by_project_is_exact(engine: Engine, seeded: Seeded) -> None:
    report = chargeback(engine, "2026-11", "project")
    assert report.rows == (
        ChargebackRow("alpha", 12, 1200, 0, 160, 0, Decimal("0.000202"), 0),
        ChargebackRow("beta", 200, 20000, 0, 4000, 0, Decimal("0.2444444244"), 1),
    )
    assert report.totals == ChargebackRow("(total)", 212, 21200, 0, 4160, 0, NOV_TOTAL, 1)


@pytest.mark.parametrize("group_by", ["project", "key", "user", "model"])
def test_totals_reconcile_with_rows_and_with_the_month(
    engine: Engine, seeded: Seeded, group_by: str
) -> None:
    report = chargeback(engine, "2026-11", group_by)
    assert sum((r.cost_usd or Decimal(0) for r in report.rows), Decimal(0)) == NOV_TOTAL
    assert report.totals.cost_usd == NOV_TOTAL
    assert sum(r.requests for r in report.rows) == report.totals.requests == 212
    month = Filters(*parse_month("2026-11"))
    stats = overview(engine, month, datetime(2026, 12, 1, tzinfo=UTC))
    assert stats.spend_in_range_usd == NOV_TOTAL
    assert stats.requests == 212


def test_an_unpriced_model_has_an_empty_cost_and_is_counted(engine: Engine, seeded: Seeded) -> None:
    rows = {r.group: r for r in chargeback(engine, "2026-11", "model").rows}
    assert rows["mystery-model"].cost_usd is None
    assert rows["mystery-model"].unpriced_requests == 1
    assert rows["gpt-4o"].cost_usd == Decimal("0.2444444244")
    lines = list(
        csv.DictReader(io.StringIO(chargeback_csv(chargeback(engine, "2026-11", "model"))))
    )
    mystery = next(line for line in lines if line["group"] == "mystery-model")
    assert (mystery["cost_usd"], mystery["unpriced_requests"]) == ("", "1")


def test_by_tag_counts_each_tag_and_leaves_unknown_token_kinds_empty(
    engine: Engine, seeded: Seeded
) -> None:
    rows = chargeback(engine, "2026-11", "tag").rows
    assert [(r.group, r.requests, r.cost_usd, r.unpriced_requests) for r in rows] == [
        ("env=prod", 50, Decimal("0.06172839"), 0),
        ("team=ml", 200, Decimal("0.2444444244"), 1),
    ]
    assert rows[0].cached_tokens is None


def test_csv_total_line_is_the_exact_sum_of_the_lines_above(engine: Engine, seeded: Seeded) -> None:
    lines = list(csv.DictReader(io.StringIO(chargeback_csv(chargeback(engine, "2026-11", "user")))))
    *groups, total = lines
    assert total["group"] == "(total)"
    for column in ("requests", "prompt_tokens", "completion_tokens", "unpriced_requests"):
        assert sum(int(g[column]) for g in groups) == int(total[column])
    assert sum(Decimal(g["cost_usd"] or 0) for g in groups) == Decimal(total["cost_usd"])
    assert total["cost_usd"] == "0.2446464244"


def test_json_has_decimal_strings(engine: Engine, seeded: Seeded) -> None:
    body = json.loads(chargeback_json(chargeback(engine, "2026-10", "project")))
    assert body["period_start"] == "2026-10-01T00:00:00Z"
    assert body["rows"] == [
        {"group": "alpha", "requests": 1, "prompt_tokens": 100, "cached_tokens": 0,
         "completion_tokens": 20, "reasoning_tokens": 0, "cost_usd": "0.0000500000",
         "unpriced_requests": 0, "cache_hits": 0, "cache_saved_usd": "0.0000000000"}
    ]  # fmt: skip
    assert body["totals"]["cost_usd"] == "0.0000500000"


def test_focus_rows_day_project_model(engine: Engine, seeded: Seeded) -> None:
    rows = focus_rows(engine, "2026-11")
    got = [(r["ChargePeriodStart"], r["SubAccountName"], r["SkuId"], r["BilledCost"]) for r in rows]
    assert got == [
        ("2026-11-01T00:00:00Z", "alpha", "gpt-4o-mini-2024-07-18", "0.0001920000"),
        ("2026-11-01T00:00:00Z", "beta", "gpt-4o", "0.2444444244"),
        ("2026-11-01T00:00:00Z", "beta", "mystery-model", ""),
        ("2026-11-02T00:00:00Z", "alpha", "gpt-4o-mini-2024-07-18", "0.0000100000"),
    ]
    assert sum(Decimal(r["BilledCost"] or 0) for r in rows) == NOV_TOTAL
    first = rows[0]
    assert list(first) == list(FOCUS_COLUMNS)
    assert (first["ChargeCategory"], first["BillingCurrency"], first["ProviderName"]) == (
        "Usage", "USD", "OpenAI"
    )  # fmt: skip
    assert first["ServiceCategory"] == "AI and Machine Learning"
    assert (first["BillingPeriodStart"], first["BillingPeriodEnd"]) == (
        "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"
    )  # fmt: skip
    assert first["ChargePeriodEnd"] == "2026-11-02T00:00:00Z"
    assert first["ConsumedQuantity"] == str(11 * 100 + 7 * 20)
    assert json.loads(first["Tags"]) == {"project": "alpha"}
    assert rows[2]["x_CostStatus"] == "unpriced"
    assert rows[1]["x_CostStatus"] == "priced"


@pytest.mark.parametrize(
    ("month", "group_by", "fmt", "message"),
    [
        ("2026-13", "project", "csv", "bad month"),
        ("Nov 2026", "project", "csv", "bad month"),
        ("2026-11", "team", "csv", "unknown group-by"),
        ("2026-11", "project", "xlsx", "unknown format"),
    ],
)
def test_bad_input_is_one_clear_error(
    engine: Engine, month: str, group_by: str, fmt: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_report(engine, month, group_by, fmt)


def test_parse_month_handles_december() -> None:
    assert parse_month("2026-12") == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_cache_hits_and_their_savings_show_in_chargeback_and_focus(
    engine: Engine, seeded: Seeded
) -> None:
    hit = {"project_id": seeded.alpha, "api_key_id": seeded.key_a, "end_user": "u1"}
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    hits = [
        make_event(
            **hit,
            started_at=at,
            outcome="cache_hit",
            cache_hit=True,
            cost_usd=Decimal(0),
            saved_usd=Decimal("0.00001"),
        )
        for _ in range(3)
    ]
    assert write_batch(engine, hits) == 3
    report = chargeback(engine, "2026-11", "project")
    alpha, beta = report.rows
    assert (alpha.cache_hits, alpha.cache_saved_usd) == (3, Decimal("0.00003"))
    assert (beta.cache_hits, beta.cache_saved_usd) == (0, Decimal(0))
    assert alpha.cost_usd == Decimal("0.000202")  # hits cost nothing
    assert (report.totals.cache_hits, report.totals.cache_saved_usd) == (3, Decimal("0.00003"))
    lines = list(csv.DictReader(io.StringIO(chargeback_csv(report))))
    assert (lines[0]["cache_hits"], lines[0]["cache_saved_usd"]) == ("3", "0.0000300000")
    by_tag = chargeback(engine, "2026-11", "tag")
    assert all(r.cache_hits is None and r.cache_saved_usd is None for r in by_tag.rows)
    rows = focus_rows(engine, "2026-11")
    nov2 = [r for r in rows if r["ChargePeriodStart"] == "2026-11-02T00:00:00Z"]
    assert [(r["x_CacheHits"], r["x_CacheSavedCost"]) for r in nov2] == [("3", "0.0000300000")]
    assert {r["x_CacheHits"] for r in rows if r not in nov2} == {"0"}
