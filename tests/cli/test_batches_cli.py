"""``spendscope batches list|show`` through Typer's CliRunner, against a migrated SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector.batches import register
from collector.cli import app
from collector.db import make_engine
from collector.recorder import write_batch
from tests.factories import make_event, make_key, make_project
from tests.support.templates import migrate

runner = CliRunner()
T = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(url)
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    engine = make_engine(url)
    project = make_project(engine, "research")
    key = make_key(engine, project, "sk-r")
    wire = {"id": "batch_1", "endpoint": "/v1/embeddings", "status": "completed",
            "request_counts": {"total": 2, "completed": 2, "failed": 0}}  # fmt: skip
    register(engine, wire, upstream="default", project_id=project, api_key_id=key,
             end_user="ana", tags={"team": "ml"}, now=T)  # fmt: skip
    line = {"batch_id": "batch_1", "batch": True, "project_id": project, "started_at": T}
    write_batch(engine, [make_event(cost_usd=Decimal("0.0000010000"), **line),
                         make_event(cost_usd=Decimal("0.0000020000"), **line)])  # fmt: skip
    engine.dispose()


def test_list_and_show_as_json() -> None:
    listed = runner.invoke(app, ["batches", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    (job,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (job["id"], job["status"], job["project"]) == ("batch_1", "completed", "research")
    assert (job["lines_recorded"], job["cost_usd"]) == (2, "0.0000030000")
    shown = runner.invoke(app, ["batches", "show", "batch_1", "--json"])
    assert shown.exit_code == 0 and json.loads(shown.stdout) == job
    assert job["tags"] == {"team": "ml"} and job["end_user"] == "ana"


def test_show_as_text_names_cost_and_attribution() -> None:
    shown = runner.invoke(app, ["batches", "show", "batch_1"])
    assert shown.exit_code == 0, shown.output
    fields = dict(line.split("  ", 1) for line in shown.stdout.splitlines())
    assert fields["cost so far (batch rates)"].strip() == "$0.0000030000"
    assert fields["recorded"].strip() == "not yet"
    assert "team=ml" in shown.stdout and "research" in shown.stdout


def test_bad_input_is_one_line_and_a_nonzero_exit() -> None:
    unknown = runner.invoke(app, ["batches", "show", "batch_nope"])
    assert unknown.exit_code == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: no batch job 'batch_nope' (only jobs created through the gateway are known)"
    ]
    bad = runner.invoke(app, ["batches", "list", "--limit", "0"])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --limit must be within")
    nobody = runner.invoke(app, ["batches", "list", "--project", "ghost"])
    assert nobody.exit_code == 2 and "no project named 'ghost'" in nobody.stderr
    listed = runner.invoke(app, ["batches", "list", "--project", "research"])
    assert listed.exit_code == 0 and "batch_1" in listed.stdout
