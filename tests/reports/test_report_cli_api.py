"""``spendscope report`` and ``GET /api/reports/chargeback`` over a real database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from collector.cli import app
from collector.reports.api import make_router
from collector.settings import get_settings
from tests.analytics.conftest import Seeded


@pytest.fixture
def cli_db(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    get_settings.cache_clear()
    return migrated_url


def test_cli_writes_a_reconciled_csv(cli_db: str, seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "nov.csv"
    result = CliRunner().invoke(
        app, ["report", "--month", "2026-11", "--group-by", "project", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [line["group"] for line in lines] == ["alpha", "beta", "(total)"]
    assert lines[-1]["cost_usd"] == "0.2446464244"


def test_cli_prints_json_and_focus(cli_db: str, seeded: Seeded) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["report", "--month", "2026-11", "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["totals"]["requests"] == 212
    by_tag = runner.invoke(app, ["report", "--month", "2026-11", "--format", "json",
                                 "--group-by", "tag"])  # fmt: skip
    row = json.loads(by_tag.stdout)["rows"][0]
    assert row["cached_tokens"] is None and row["reasoning_tokens"] is None  # not "" in JSON
    assert isinstance(row["prompt_tokens"], int)
    by_model = json.loads(runner.invoke(app, ["report", "--month", "2026-11", "--format", "json",
                                              "--group-by", "model"]).stdout)  # fmt: skip
    mystery = next(r for r in by_model["rows"] if r["group"] == "mystery-model")
    assert mystery["cost_usd"] is None and mystery["unpriced_requests"] == 1
    result = runner.invoke(app, ["report", "--month", "2026-11", "--format", "focus"])
    assert result.exit_code == 0
    assert result.stdout.startswith("BilledCost,EffectiveCost,ListCost,ContractedCost,")
    assert len(result.stdout.strip().splitlines()) == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-1"], "bad month"),
        (["--month", "2026-11", "--group-by", "team"], "unknown group-by"),
        (["--month", "2026-11", "--format", "pdf"], "unknown format"),
        (["--month", "2026-11", "--output", "/no/such/dir/x.csv"], "cannot write"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    cli_db: str, seeded: Seeded, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]


def test_cli_refuses_a_directory_as_output(cli_db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--month", "2026-11", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in result.stderr


def _client(engine: Engine, token: str | None = None) -> TestClient:
    def auth(request: Request) -> None:
        if token is not None and request.headers.get("authorization") != f"Bearer {token}":
            raise HTTPException(status_code=401, detail="unauthorized")

    api = FastAPI()
    api.include_router(make_router(lambda: engine, auth))
    return TestClient(api)


def test_api_serves_json_csv_and_focus(engine: Engine, seeded: Seeded) -> None:
    client = _client(engine)
    url = "/api/reports/chargeback"
    body = client.get(url, params={"month": "2026-11", "group_by": "model"}).json()
    assert body["totals"]["cost_usd"] == "0.2446464244"
    assert [r["group"] for r in body["rows"]] == [
        "gpt-4o", "gpt-4o-mini-2024-07-18", "mystery-model"
    ]  # fmt: skip
    response = client.get(url, params={"month": "2026-11", "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.splitlines()[-1].startswith("(total),212,")
    response = client.get(url, params={"month": "2026-11", "format": "focus"})
    assert response.text.startswith("BilledCost,")


def test_api_bad_input_is_422_with_the_reason(engine: Engine, seeded: Seeded) -> None:
    response = _client(engine).get("/api/reports/chargeback", params={"month": "11-2026"})
    assert response.status_code == 422
    assert "bad month" in response.json()["detail"]


def test_api_runs_the_injected_auth_dependency(engine: Engine, seeded: Seeded) -> None:
    client = _client(engine, token="s3cret")
    params = {"month": "2026-11"}
    assert client.get("/api/reports/chargeback", params=params).status_code == 401
    ok = client.get(
        "/api/reports/chargeback", params=params, headers={"authorization": "Bearer s3cret"}
    )
    assert ok.status_code == 200
