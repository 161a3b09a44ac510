"""The demo's configuration and backfill against a real database (SQLite; PostgreSQL too
when configured): keys, history through ``write_batch``, budgets sized from it, alert rules
that fire into the JSONL file through the real evaluator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from collector.alerts import AlertEvaluator
from collector.budgets import budget_statuses, parse_timezone
from collector.db import ApiKey, Project, Request, hourly_rollups
from collector.demo import KEYS, PROJECTS, backfill, generate_history
from collector.demo._database import is_demo_database, prepare_database
from collector.demo._procs import DemoError
from collector.demo._setup import (
    RULES,
    budget_plans,
    create_demo_budgets,
    create_demo_keys,
    create_demo_rules,
)
from collector.demo._stack import Paths
from collector.settings import load_settings

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def _seed(engine: Engine) -> tuple[dict[str, str], Decimal, int]:
    keys = create_demo_keys(engine, NOW)
    events = list(generate_history(keys.keys, start=NOW - timedelta(days=2), end=NOW, seed=5))
    report = backfill(engine, events, batch_size=700)
    assert report.events == len(events) > 1000
    total = sum((e.cost_usd for e in events if e.cost_usd is not None), Decimal(0))
    assert report.cost_usd == total
    return keys.prefixes, total, len(events)


def test_keys_history_and_rollups_agree_exactly(engine: Engine) -> None:
    _prefixes, total, n = _seed(engine)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Request)) == n
        stored = [c for c in conn.scalars(select(Request.cost_usd)) if c is not None]
        rolled = list(conn.scalars(select(hourly_rollups.c.cost_usd)))
        projects = set(conn.scalars(select(Project.name)))
        keys = conn.scalar(select(func.count()).select_from(ApiKey))
    assert sum(stored, Decimal(0)) == total
    assert sum(rolled, Decimal(0)) == total
    assert projects == set(PROJECTS)
    assert keys == len(KEYS)


def test_budgets_are_sized_from_recorded_spend(engine: Engine) -> None:
    prefixes, _total, _n = _seed(engine)
    plans = budget_plans(prefixes, live_amount=Decimal("0.25"))
    created = create_demo_budgets(engine, plans, NOW, "UTC")
    assert [b.name for b in created] == [p.name for p in plans]
    statuses = {s.budget.name: s for s in budget_statuses(engine, NOW, parse_timezone("UTC"))}
    near = statuses["support-bot monthly"]
    assert Decimal(89) <= near.percent <= Decimal(90)
    assert near.crossed == (50, 80)
    assert Decimal(50) <= statuses["search weekly"].percent <= Decimal(55)
    assert statuses["analytics monthly cap"].budget.mode.value == "hard"
    live = statuses["live demo traffic today"]
    assert live.spent_usd == 0 and live.budget.amount_usd == Decimal("0.25")


async def test_rules_fire_into_the_jsonl_file(engine: Engine, tmp_path: Path) -> None:
    prefixes, _total, _n = _seed(engine)
    create_demo_budgets(engine, budget_plans(prefixes, Decimal("0.25")), NOW, "UTC")
    settings = load_settings(
        database_url=engine.url.render_as_string(hide_password=False), timezone="UTC"
    )
    alerts = tmp_path / "alerts.jsonl"
    assert create_demo_rules(engine, settings, alerts, NOW) == [name for name, *_ in RULES]
    report = await AlertEvaluator(engine, settings).evaluate_once(NOW)
    assert not report.errors
    notices = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert len(notices) == len(report.fired)
    messages = " ".join(n["message"] for n in notices)
    assert "'support-bot monthly'" in messages and "crossed 80%" in messages
    assert any(n["kind"] == "unpriced_traffic" for n in notices)


def test_only_a_demo_database_is_replaced(tmp_path: Path) -> None:
    paths = Paths.beside(tmp_path / "demo.db")
    prepare_database(paths)
    assert is_demo_database(paths.db)
    prepare_database(paths)  # a second run replaces its own database
    other = Paths.beside(tmp_path / "precious.db")
    other.db.write_bytes(b"not sqlite at all")
    try:
        prepare_database(other)
    except DemoError as exc:
        assert "refusing to replace" in str(exc)
    else:
        raise AssertionError("a foreign file must not be replaced")
    assert other.db.read_bytes() == b"not sqlite at all"
