"""``spendscope upstream-keys status``: each server-held key's use, errors, spend and state,
shown by its last four characters only, within 80 columns (and as JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from typer.testing import CliRunner

from collector.cli import app
from collector.db import make_engine
from collector.recorder import AttemptEvent, write_batch
from collector.settings import get_settings
from tests.factories import make_event

runner = CliRunner()
K1, K2, K3, GONE = "sk-cli-key-0001", "sk-cli-key-0002", "sk-cli-key-0003", "sk-old-key-0009"


@pytest.fixture
def cli_db(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    monkeypatch.setenv("SPENDSCOPE_UPSTREAMS", '{"second": "http://127.0.0.1:9/v1"}')
    keys = {"default": [K1, {"key": K2, "weight": 2}], "second": K3}
    monkeypatch.setenv("SPENDSCOPE_UPSTREAM_KEYS", json.dumps(keys))
    monkeypatch.setenv("COLUMNS", "80")
    get_settings.cache_clear()
    return migrated_url


def _request(url: str, ago: timedelta, cost: str | None, *tries: tuple[int, str, str]) -> None:
    at = datetime.now(UTC) - ago
    attempts = [
        AttemptEvent(n, at + timedelta(milliseconds=n), 5.0, "gpt-4o-mini", upstream, status,
                     upstream_key_last4=last4)
        for n, (status, upstream, last4) in enumerate(tries, 1)
    ]  # fmt: skip
    money = None if cost is None else Decimal(cost)
    engine = make_engine(url)
    write_batch(engine, [make_event(started_at=at, attempts=attempts, cost_usd=money)])
    engine.dispose()


def _seed(url: str) -> None:
    h = timedelta(hours=1)
    _request(url, 5 * h, "0.5", (401, "default", "0001"), (200, "default", "0002"))
    _request(url, 4 * h, "0.25", (429, "default", "0002"), (200, "default", "0002"))
    _request(url, 3 * h, "1.125", (503, "default", "0001"), (200, "default", "0002"))
    _request(url, 2 * h, "2", (200, "second", "0003"))
    _request(url, 1 * h, "3", (200, "default", "0009"))  # a key since removed
    _request(url, 40 * 24 * h, "7", (200, "default", "0002"))  # before the window


def test_json_counts_each_key_and_its_answered_spend(cli_db: str) -> None:
    _seed(cli_db)
    result = runner.invoke(app, ["upstream-keys", "status", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    by_key = {(r["upstream"], r["key"]): r for r in rows}
    assert list(by_key) == [
        ("default", "…0001"), ("default", "…0002"), ("second", "…0003"), ("default", "…0009"),
    ]  # fmt: skip
    one, two, three, gone = by_key.values()
    assert (one["state"], one["requests"], one["errors"]) == (
        "revoked", 2, {"401/403": 1, "429": 0, "5xx": 1},
    )  # fmt: skip
    assert one["spend_usd"] is None  # it answered nothing
    assert (two["state"], two["weight"], two["requests"]) == ("active", 2, 3)
    assert two["errors"] == {"401/403": 0, "429": 1, "5xx": 0}
    assert Decimal(two["spend_usd"]) == Decimal("1.875")  # 0.5 + 0.25 + 1.125, not the old 7
    assert (three["state"], Decimal(three["spend_usd"])) == ("active", Decimal(2))
    assert (gone["state"], gone["weight"]) == ("removed", None)
    assert Decimal(gone["spend_usd"]) == 3
    assert datetime.fromisoformat(two["last_used"]) > datetime.now(UTC) - timedelta(hours=4)
    for secret in (K1, K2, K3, GONE):
        assert secret not in result.stdout and secret[:-4] not in result.stdout


def test_table_fits_80_columns_and_shows_last_four_only(cli_db: str) -> None:
    _seed(cli_db)
    result = runner.invoke(app, ["upstream-keys", "status"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    assert "401/403" in lines[0] and "spend $" in lines[0]
    line = next(x for x in lines if "…0002" in x)
    assert "active" in line and line.rstrip().endswith("1.88")
    assert "sk-cli" not in result.stdout


def test_a_bad_key_setting_is_one_line(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_UPSTREAM_KEYS", '{"default": [{"key": "sk-x", "weight": 0}]}')
    get_settings.cache_clear()
    result = runner.invoke(app, ["upstream-keys", "status"])
    assert result.exit_code == 2
    assert "SPENDSCOPE_UPSTREAM_KEYS" in result.output and "Traceback" not in result.output
