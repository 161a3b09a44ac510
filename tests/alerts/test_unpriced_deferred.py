"""Rows whose spend another row records (a background response started, a stored response read)
are ``unpriced`` with a note, and the unpriced-traffic alert does not count them as unknown
spend; a plain unpriced row beside them still fires it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from collector.alerts import AlertEvaluator, add_rule, parse_channel
from collector.pricing import BACKGROUND_NOTE, RETRIEVE_NOTE
from collector.recorder import write_batch
from collector.settings import load_settings
from tests.factories import make_event, make_project

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
SETTINGS = load_settings(alert_webhook_secret="k", alert_http_backoff_ms=1, alert_http_retries=1)


async def test_deferred_rows_are_not_unknown_spend(engine: Engine, tmp_path: Path) -> None:
    pid = make_project(engine, "acme")
    at = NOW - timedelta(minutes=10)
    deferred = [
        make_event(
            started_at=at,
            project_id=pid,
            model_served="gpt-4o-mini",
            cost_usd=None,
            cost_source="unpriced",
            cost_note=note,
        )
        for note in (BACKGROUND_NOTE, RETRIEVE_NOTE)
    ]
    write_batch(engine, deferred)
    jsonl = parse_channel("file", str(tmp_path / "a.jsonl"), SETTINGS)
    add_rule(engine, "unpriced", "unpriced_traffic", "global", {}, (jsonl,), NOW)
    quiet = await AlertEvaluator(engine, SETTINGS).evaluate_once(NOW)
    assert quiet.fired == []
    unknown = make_event(started_at=at, project_id=pid, model_served="homebrew-llm",
                         cost_usd=None, cost_source="unpriced")  # fmt: skip
    write_batch(engine, [unknown])
    report = await AlertEvaluator(engine, SETTINGS).evaluate_once(NOW)
    assert len(report.fired) == 1
    line = json.loads((tmp_path / "a.jsonl").read_text())
    assert line["details"] == {"model": "homebrew-llm", "requests": 1}
