"""Commands that read the database never create one, and their errors name the URL they tried."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from collector.cli import app
from collector.demo._console import Access, access_panel, try_it
from collector.settings import get_settings

runner = CliRunner()

READERS = [
    ["logs"],
    ["budgets", "list"],
    ["alerts", "list"],
    ["alerts", "rules", "list"],
    ["keys", "list"],
    ["batches", "list"],
    ["report", "--month", "2026-01"],
]


@pytest.mark.parametrize("command", READERS, ids=lambda c: " ".join(c[:2]))
def test_a_missing_sqlite_file_is_named_and_not_created(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'spendscope.db'}"
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    get_settings.cache_clear()
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: no database at {url} ({tmp_path / 'spendscope.db'} does not exist): run "
        "`spendscope db upgrade` to create it, or set SPENDSCOPE_DATABASE_URL to an existing one"
    ]
    assert not (tmp_path / "spendscope.db").exists()


def test_the_demo_database_beside_is_suggested(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spendscope-demo.db").touch()
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", "sqlite:///./spendscope.db")
    get_settings.cache_clear()
    result = runner.invoke(app, ["logs"])
    assert result.exit_code == 2
    demo = tmp_path.resolve() / "spendscope-demo.db"
    assert result.stderr.strip().endswith(
        f"for the demo's: export SPENDSCOPE_DATABASE_URL=sqlite:///{demo}"
    )
    assert not (tmp_path / "spendscope.db").exists()


def _access(db: Path) -> Access:
    return Access(
        dashboard_url="http://127.0.0.1:1/", gateway_url="http://127.0.0.1:2/v1",
        metrics_url="http://127.0.0.1:2/metrics", mock_url="http://127.0.0.1:3/v1",
        user="demo", password="pw", sample_key="sk-ss-x", alerts_file=Path("a.jsonl"),
        logs_dir=Path("logs"), db_path=db,
    )  # fmt: skip


def test_the_demo_prints_the_database_url_and_commands_that_run_as_shown(tmp_path: Path) -> None:
    db = tmp_path / "spendscope-demo.db"
    export = f"export SPENDSCOPE_DATABASE_URL=sqlite:///{db}"
    console = Console(width=400, record=True)
    console.print(access_panel(_access(db)))
    assert f"sqlite:///{db}" in console.export_text()
    lines = try_it(_access(db)).splitlines()
    assert lines[2].startswith(f"  {sys.executable} -c ")
    assert lines[3] == f"  {export}"
    assert lines[4].endswith(" logs") and Path(lines[4].split()[0]).exists()
