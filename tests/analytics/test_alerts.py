"""Alert history: newest first, paged, described from rule, dedup key and deliveries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from collector.analytics import alert_history
from collector.budgets import (
    DEFAULT_THRESHOLDS,
    BudgetSpec,
    Mode,
    create_budget,
    parse_period,
    parse_scope,
)
from collector.db import AlertEvent, AlertRule, session_scope

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _rule(session: Any, name: str, kind: str, scope_kind: str, scope_value: str | None) -> int:
    row = AlertRule(name=name, kind=kind, scope_kind=scope_kind, scope_value=scope_value,
                    params={}, channels={}, enabled=True, created_at=T)  # fmt: skip
    session.add(row)
    session.flush()
    return int(row.id)


@pytest.fixture
def history(engine: Engine) -> None:
    with session_scope(engine) as session:
        budget = _rule(session, "budget 80", "budget_threshold", "project", "3")
        burn = _rule(session, "fast burn", "slo_burn_rate", "global", None)
        ok = {"ok": True, "attempts": 1, "detail": "200"}
        bad = {"ok": False, "attempts": 3, "detail": "HTTP 500"}
        session.add_all([
            AlertEvent(rule_id=budget,
                       dedup_key=f"{budget}|project:3|Team|2026-11-01T00:00:00+00:00|80"
                       "|resolved@2026-11-01T14:00:00+00:00#1", state="resolved", fired_at=T,
                       resolved_at=T + timedelta(hours=2), message="Budget 'Team' crossed 80%",
                       payload={"kind": "budget_threshold"},
                       deliveries={"fire": {"slack": ok}, "resolve": {"slack": ok}}),
            AlertEvent(rule_id=burn, dedup_key=f"{burn}|global|1h/5m|14.4", state="firing",
                       fired_at=T + timedelta(hours=3), message="Burning fast",
                       payload={"kind": "slo_burn_rate"},
                       deliveries={"fire": {"slack": ok, "webhook": bad}}),
            *(
                AlertEvent(rule_id=burn, dedup_key=f"{burn}|global|6h/30m|6|resolved@x#{i}",
                           state="resolved", fired_at=T - timedelta(days=1, minutes=i),
                           resolved_at=T, message=f"old {i}", payload={}, deliveries={})
                for i in range(30)
            ),
        ])  # fmt: skip


def test_history_is_newest_first_and_described(engine: Engine, history: None) -> None:
    df, total = alert_history(engine, page=1, page_size=25)
    assert total == 32 and len(df) == 25
    first, second = df.iloc[0], df.iloc[1]
    assert (first["rule"], first["state"], first["scope"]) == ("fast burn", "firing", "global")
    assert (first["period"], first["threshold"]) == ("1h/5m", "14.4×")
    assert first["delivery"] == "fire: slack ok, webhook failed: HTTP 500"
    assert pd.isna(first["resolved_at"])
    assert (second["rule"], second["state"], second["scope"]) == (
        "budget 80",
        "resolved",
        "project: #3",
    )
    assert (second["period"], second["threshold"]) == ("Team from 2026-11-01", "80 %")
    assert second["delivery"] == "fire: slack ok; resolve: slack ok"
    assert second["resolved_at"].to_pydatetime() == T + timedelta(hours=2)
    assert list(df["message"][2:5]) == ["old 0", "old 1", "old 2"]


def test_history_pages_without_gaps(engine: Engine, history: None) -> None:
    pages = [alert_history(engine, page=p, page_size=10)[0] for p in (1, 2, 3, 4)]
    ids = [i for page in pages for i in page["id"]]
    assert [len(p) for p in pages] == [10, 10, 10, 2]
    assert len(set(ids)) == 32


def test_empty_history_and_bad_paging(engine: Engine) -> None:
    df, total = alert_history(engine)
    assert df.empty and total == 0 and "delivery" in df.columns
    with pytest.raises(ValueError, match="page"):
        alert_history(engine, page=0)


def test_budget_alerts_show_the_budgets_scope_and_unpriced_alerts_the_model(
    engine: Engine,
) -> None:
    spec = BudgetSpec(name="Search", scope=parse_scope("tag:team=search"),
                      period=parse_period("month"), amount_usd=Decimal("100"), mode=Mode.SOFT,
                      thresholds=DEFAULT_THRESHOLDS)  # fmt: skip
    create_budget(engine, spec, T)
    with session_scope(engine) as session:
        budget = _rule(session, "budgets", "budget_threshold", "global", None)
        unpriced = _rule(session, "unpriced", "unpriced_traffic", "global", None)
        session.add_all([
            AlertEvent(rule_id=budget, dedup_key=f"{budget}|global|Search|2026-11-01T00:00:00|80",
                       state="firing", fired_at=T, message="crossed", deliveries={},
                       payload={"kind": "budget_threshold", "budget": "Search"}),
            AlertEvent(rule_id=unpriced, dedup_key=f"{unpriced}|global|1h|gpt-x", state="firing",
                       fired_at=T + timedelta(minutes=1), message="unpriced", deliveries={},
                       payload={"kind": "unpriced_traffic", "model": "gpt-x", "requests": 3}),
        ])  # fmt: skip
    df, _ = alert_history(engine)
    rows = df.set_index("rule")
    assert rows.loc["budgets", "scope"] == "tag: team=search"
    assert tuple(rows.loc["unpriced", ["scope", "period", "threshold"]]) == (
        "global · model: gpt-x", "1h", "1+ unpriced request")  # fmt: skip
