"""``spendscope alerts …`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector.cli import app
from tests.support.templates import migrate

runner = CliRunner()


@pytest.fixture(autouse=True)
def _db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(url)
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_rules_add_list_evaluate_history_delete(tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    code, _, err = run("budgets", "create", "--scope", "global", "--period", "month",
                       "--amount-usd", "0.000001", "--name", "tiny")  # fmt: skip
    assert code == 0, err
    code, stdout, err = run("alerts", "rules", "add", "--name", "burn", "--kind", "slo_burn_rate",
                            "--scope", "project:acme", "--param", "slo_target=0.999",
                            "--file", str(out))  # fmt: skip
    assert code == 0, err
    code, _, err = run("alerts", "rules", "add", "--name", "spend", "--kind", "forecast_overrun",
                       "--param", "min_elapsed_fraction=0", "--file", str(out))  # fmt: skip
    assert code == 0, err
    code, stdout, _ = run("alerts", "rules", "list", "--json")
    rules = json.loads(stdout)
    assert [r["name"] for r in rules] == ["burn", "spend"]
    assert rules[0]["params"]["slo_target"] == 0.999
    assert rules[0]["params"]["windows"] == [["1h", "5m", 14.4], ["6h", "30m", 6.0]]
    assert rules[0]["channels"] == [f"file:{out}"]
    code, stdout, _ = run("alerts", "evaluate")
    assert code == 0 and "fired 0, resolved 0" in stdout
    code, stdout, _ = run("alerts", "list", "--json")
    assert json.loads(stdout) == []
    assert run("alerts", "rules", "delete", "burn")[0] == 0
    assert run("alerts", "rules", "delete", "burn")[0] == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--kind", "nope", "--file", "a.jsonl"], "unknown rule kind"),
        (["--kind", "error_rate"], "at least one channel"),
        (["--kind", "error_rate", "--webhook", "localhost:8080/x"], "bad webhook URL"),
        (["--kind", "error_rate", "--email", "ops@example.com"], "SPENDSCOPE_SMTP_HOST"),
        (["--kind", "error_rate", "--slack", "https://hooks.example.com:0/x"], "port"),
        (["--kind", "error_rate", "--param", "window", "--file", "a"], "KEY=VALUE"),
        (["--kind", "error_rate", "--scope", "tag:a=b", "--file", "a"], "scopes"),
        (
            ["--kind", "budget_threshold", "--param", "budget=org-monthly", "--file", "a"],
            "no budget named 'org-monthly'",
        ),
    ],
)
def test_bad_rules_are_one_line_exit_2(args: list[str], needle: str) -> None:
    code, _, err = run("alerts", "rules", "add", "--name", "x", *args)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1


def test_duplicate_rule_name() -> None:
    args = ["alerts", "rules", "add", "--name", "x", "--kind", "error_rate", "--file", "a.jsonl"]
    assert run(*args)[0] == 0
    code, _, err = run(*args)
    assert code == 2 and "already exists" in err


def test_email_rule_without_smtp_host_still_lists_and_evaluates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from collector.settings import get_settings

    monkeypatch.setenv("SPENDSCOPE_SMTP_HOST", "127.0.0.1")
    jsonl = str(tmp_path / "a.jsonl")
    code, _, err = run("alerts", "rules", "add", "--name", "mail", "--kind", "error_rate",
                       "--email", "ops@example.com", "--file", jsonl)  # fmt: skip
    assert code == 0, err
    monkeypatch.delenv("SPENDSCOPE_SMTP_HOST")
    get_settings.cache_clear()
    code, stdout, err = run("alerts", "rules", "list", "--json")
    assert code == 0, err
    assert json.loads(stdout)[0]["channels"] == [
        "email:ops@example.com",
        f"file:{tmp_path}/a.jsonl",
    ]
    code, stdout, err = run("alerts", "evaluate")
    assert code == 0, err
    assert "fired 0, resolved 0" in stdout
