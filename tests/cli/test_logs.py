"""``spendscope logs``: recent requests with attempts, filters, JSON lines and --follow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

import collector.cli.logs as logs_module
from collector.cli import app
from collector.recorder import AttemptEvent, UsageEvent, new_request_id, write_batch
from collector.requestlog import (
    RequestWithAttempts,
    id_floor,
    request_ids_after,
    requests_by_id,
)
from collector.settings import get_settings
from tests.factories import T0, make_event, make_key, make_project

runner = CliRunner()


@pytest.fixture
def cli_db(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    monkeypatch.setenv("COLUMNS", "260")
    get_settings.cache_clear()
    return migrated_url


def _failed(project_id: int, **kw: Any) -> UsageEvent:
    """An upstream_error after three 503s."""
    attempts = [
        AttemptEvent(attempt_no=n, started_at=T0 + timedelta(seconds=n), duration_ms=40.0 * n,
                     model="gpt-4o", http_status=503, error_type="upstream_error",
                     error_message=f"overloaded #{n}")
        for n in (1, 2, 3)
    ]  # fmt: skip
    return make_event(project_id=project_id, outcome="upstream_error", http_status=503,
                      model_requested="gpt-4o", model_served="gpt-4o", cost_usd=None,
                      cost_source="unpriced", prompt_tokens=0, completion_tokens=0,
                      error_type="upstream_error", error_message="overloaded #3",
                      attempts=attempts, **kw)  # fmt: skip


def _rescued(project_id: int) -> UsageEvent:
    """A success on the second try."""
    event = make_event(project_id=project_id, cost_usd=Decimal("0.0012345678"))
    first = AttemptEvent(attempt_no=1, started_at=event.started_at, duration_ms=30.0,
                         model=event.model_served, http_status=429, error_type="rate_limited",
                         error_message="slow down")  # fmt: skip
    second = AttemptEvent(attempt_no=2, started_at=event.started_at, duration_ms=90.0,
                          model=event.model_served, http_status=200, prompt_tokens=100,
                          completion_tokens=20, cost_usd=event.cost_usd)  # fmt: skip
    event.attempts = [first, second]
    return event


@pytest.fixture
def rows(cli_db: str, engine: Engine) -> dict[str, UsageEvent]:
    acme, other = make_project(engine, "acme"), make_project(engine, "other")
    key = make_key(engine, acme, prefix="sk-ss-acmekey1")
    makers: dict[str, Callable[[], UsageEvent]] = {
        "ok": lambda: make_event(project_id=acme, api_key_id=key, end_user="alice",
                                 tags={"env": "p"}),
        "failed": lambda: _failed(acme),
        "rescued": lambda: _rescued(acme),
        "other": lambda: make_event(project_id=other, model_requested="gpt-4.1",
                                    model_served="gpt-4.1"),
    }  # fmt: skip
    events = {}
    for name, maker in makers.items():
        events[name] = maker()
        assert write_batch(engine, [events[name]]) == 1
        _next_millisecond()
    return events


def _next_millisecond() -> None:
    """ULIDs order by millisecond; within one they are random."""
    time.sleep(0.002)


def _json(*args: str) -> list[dict[str, Any]]:
    result = runner.invoke(app, ["logs", "--json", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_json_lines_oldest_first_with_attempts(rows: dict[str, UsageEvent]) -> None:
    got = _json()
    assert [r["id"] for r in got] == [e.id for e in rows.values()]
    ok, failed, rescued, other = got
    assert ok["project"] == "acme" and ok["key_prefix"] == "sk-ss-acmekey1"
    assert ok["cost_usd"] == "0.0000270000" and ok["end_user"] == "alice"
    assert ok["tags"] == {"env": "p"}
    assert ok["attempts"][0]["cost_usd"] == "0.0000270000"
    assert failed["cost_usd"] is None and failed["cost_source"] == "unpriced"
    assert [a["http_status"] for a in failed["attempts"]] == [503, 503, 503]
    assert [a["error_message"] for a in failed["attempts"]][-1] == "overloaded #3"
    assert rescued["cost_usd"] == "0.0012345678"
    assert [a["attempt_no"] for a in rescued["attempts"]] == [1, 2]
    assert other["project"] == "other" and other["key_prefix"] is None


def test_filters(rows: dict[str, UsageEvent]) -> None:
    assert [r["id"] for r in _json("--errors")] == [rows["failed"].id]
    assert [r["id"] for r in _json("--project", "other")] == [rows["other"].id]
    assert [r["id"] for r in _json("--model", "gpt-4o")] == [rows["failed"].id]
    served = rows["ok"].model_served
    assert served is not None
    assert len(_json("--model", served)) == 2  # the ok and the rescued request
    assert _json("--project", "nobody") == []
    assert [r["id"] for r in _json("-n", "2")] == [rows["rescued"].id, rows["other"].id]


def test_table_shows_attempts_beneath_failures(rows: dict[str, UsageEvent]) -> None:
    result = runner.invoke(app, ["logs", "--wide"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for event in rows.values():
        assert event.id in out
    assert "upstream_error" in out and "overloaded #2" in out
    assert out.count("↳ attempt") == 5  # 3 beneath the failure, 2 beneath the rescued retry
    failed_at = out.index(rows["failed"].id)
    assert failed_at < out.index("↳ attempt 3") < out.index(rows["rescued"].id)
    assert "gpt-4o-mini→gpt-4o-mini-2024-07-18" in out
    assert "0.0000270000" in out and "unpriced" in out
    assert f"{rows['failed'].attempts[1].started_at:%H:%M:%S.%f}"[:-3] in out  # the backoff shows


def test_table_fits_80_columns_with_short_ids_and_cents(
    rows: dict[str, UsageEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    out = runner.invoke(app, ["logs"]).stdout
    lines = out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, out
    for event in rows.values():
        assert event.id not in out and "…" + event.id[-8:] in out
    assert "↳ try 3" in out and "failed 503" in out
    assert "0.0000270000" not in out and "<0.01" in out  # 0.000027 USD, to the cent
    exact = runner.invoke(app, ["logs", "--exact"]).stdout
    assert "0.0000270000" in exact and "0.0012345678" in exact


def test_empty_database_says_so(cli_db: str) -> None:
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 0
    assert result.stderr.strip() == "no matching requests"


def test_unmigrated_database(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 2
    assert "spendscope db upgrade" in result.stderr


def _polls(monkeypatch: pytest.MonkeyPatch) -> threading.Semaphore:
    """Released once per poll that ``logs --follow`` makes after its first screen."""
    polled = threading.Semaphore(0)
    real = logs_module._Follower.poll
    calls = 0

    def poll(self: logs_module._Follower) -> list[RequestWithAttempts]:
        nonlocal calls
        rows = real(self)
        calls += 1
        if calls > 1:  # the first only marks what is already there
            polled.release()
        return rows

    monkeypatch.setattr(logs_module._Follower, "poll", poll)
    return polled


def _after_a_poll(polled: threading.Semaphore, write: Callable[[], object]) -> threading.Thread:
    """Runs ``write`` once ``--follow`` is polling, so its rows are new to it."""

    def run() -> None:
        if polled.acquire(timeout=10):
            write()

    writer = threading.Thread(target=run)
    writer.start()
    return writer


def test_follow_prints_new_and_late_rows_once(
    rows: dict[str, UsageEvent], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = rows["ok"].project_id
    late_id = new_request_id()  # started before the rows below, but recorded last
    _next_millisecond()
    before = make_event(project_id=project)
    assert write_batch(engine, [before]) == 1
    _next_millisecond()
    fresh = make_event(project_id=project)
    late = make_event(project_id=project, id=late_id, outcome="timeout", http_status=None)

    def record_later() -> None:
        write_batch(engine, [fresh])
        write_batch(engine, [late])

    writer = _after_a_poll(_polls(monkeypatch), record_later)
    result = runner.invoke(app, ["logs", "--json", "--follow", "-n", "2", "--interval", "0.1",
                                 "--follow-seconds", "3"])  # fmt: skip
    writer.join()
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids[:2] == [rows["other"].id, before.id]
    assert sorted(ids[2:]) == sorted([fresh.id, late_id])  # once each, late one included


def test_follow_respects_filters(
    rows: dict[str, UsageEvent], engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = rows["ok"].project_id
    fine, broken = make_event(project_id=project), _failed(project or 0)
    writer = _after_a_poll(_polls(monkeypatch), lambda: write_batch(engine, [fine, broken]))
    result = runner.invoke(app, ["logs", "--json", "--follow", "--errors", "--interval", "0.1",
                                 "--follow-seconds", "2"])  # fmt: skip
    writer.join()
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == [rows["failed"].id, broken.id]


def test_id_floor_bounds_ulids_by_start_time() -> None:
    before = datetime.now(UTC)
    ulid = new_request_id()
    after = datetime.now(UTC) + timedelta(milliseconds=1)
    assert id_floor(before - timedelta(milliseconds=1)) < ulid < id_floor(after)
    assert len(id_floor(before)) == 26


def test_ids_then_rows_for_follow(rows: dict[str, UsageEvent], engine: Engine) -> None:
    first = rows["ok"].id
    assert request_ids_after(engine, first) == [e.id for e in rows.values()][1:]
    assert request_ids_after(engine, first, errors_only=True) == [rows["failed"].id]
    assert request_ids_after(engine, "", project="other") == [rows["other"].id]
    got = requests_by_id(engine, [rows["rescued"].id, "01NOSUCHID0000000000000000", first])
    assert [r.id for r in got] == [first, rows["rescued"].id]
    assert [a.attempt_no for a in got[1].attempts] == [1, 2]


def test_json_money_is_never_in_exponent_form(cli_db: str, engine: Engine) -> None:
    acme = make_project(engine, "acme")
    tiny = make_event(project_id=acme, cost_usd=Decimal("0.00000002"))
    tiny.attempts = [AttemptEvent(attempt_no=1, started_at=tiny.started_at, duration_ms=5.0,
                                  model=tiny.model_served, http_status=200,
                                  cost_usd=Decimal(0))]  # fmt: skip
    write_batch(engine, [tiny])
    [row] = _json()
    assert row["cost_usd"] == "0.0000000200"
    assert row["attempts"][0]["cost_usd"] == "0.0000000000"
