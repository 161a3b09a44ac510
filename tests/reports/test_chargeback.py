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
         "unpriced_requests": 0}
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
