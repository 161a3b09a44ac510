"""The dashboard warns while any gateway's recording is degraded (a firing recorder_health
alert), and says nothing once it recovers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dash
import pytest
from sqlalchemy import Engine

from collector import analytics
from collector.alerts import AlertEvaluator, add_rule, parse_channel
from collector.settings import load_settings
from dashboard.shell import recording_banner
from tests.dashboard.seed import Seeded

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _request_context(app: dash.Dash) -> Iterator[None]:
    with app.server.test_request_context():
        yield


def _text(component: object) -> str:
    if isinstance(component, str):
        return component
    if isinstance(component, list):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", ""))


async def test_a_firing_recorder_alert_shows_until_it_resolves(
    seeded: tuple[Engine, Seeded], tmp_path: object
) -> None:
    engine = seeded[0]
    settings = load_settings()
    channel = parse_channel("file", str(f"{tmp_path}/alerts.jsonl"), settings)
    add_rule(engine, "recording", "recorder_health", "global", {}, (channel,), NOW)
    reasons = {"quarantine": "2 quarantined batches: see `spendscope spool quarantine list`"}
    evaluator = AlertEvaluator(engine, settings, lambda: reasons)
    assert recording_banner() == []
    await evaluator.evaluate_once(NOW)
    assert analytics.recording_issues(engine) == [
        "Recording is degraded: 2 quarantined batches: see `spendscope spool quarantine list`."
    ]
    banner = _text(recording_banner(1))
    assert "Recording is degraded" in banner and "2 quarantined batches" in banner
    reasons.clear()
    await evaluator.evaluate_once(NOW + timedelta(minutes=1))
    assert recording_banner(2) == []
