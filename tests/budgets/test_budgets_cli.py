"""``spendscope budgets …`` through Typer's CliRunner, against a migrated SQLite database."""

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
    monkeypatch.setenv("SPENDSCOPE_TIMEZONE", "Europe/Berlin")


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_create_list_update_delete() -> None:
    ok("budgets", "create", "--scope", "project:acme", "--period", "month", "--amount-usd", "250",
       "--mode", "hard", "--thresholds", "50,90", "--name", "acme")  # fmt: skip
    ok("budgets", "create", "--scope", "tag:team=search", "--period", "rolling:7d",
       "--amount-usd", "12.5")  # fmt: skip
    rows = json.loads(ok("budgets", "list", "--json"))
    assert [r["name"] for r in rows] == ["acme", "tag:team=search rolling:7d soft"]
    acme = rows[0]
    assert (acme["amount_usd"], acme["spent_usd"], acme["remaining_usd"]) == (
        "250.0000000000",
        "0.0000000000",
        "250.0000000000",
    )
    assert acme["thresholds"] == [50, 90] and acme["mode"] == "hard"
    assert acme["resets_at"].endswith(("+01:00", "+02:00"))  # Berlin time
    assert "acme" in ok("budgets", "list")
    ok("budgets", "update", "acme", "--amount-usd", "300", "--mode", "soft", "--rename", "acme2")
    assert json.loads(ok("budgets", "list", "--json"))[0]["amount_usd"] == "300.0000000000"
    assert "deleted" in ok("budgets", "delete", "acme2")
    assert len(json.loads(ok("budgets", "list", "--json"))) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scope", "team:x", "--period", "day", "--amount-usd", "1"], "unknown scope kind"),
        (["--scope", "global", "--period", "year", "--amount-usd", "1"], "bad period"),
        (["--scope", "global", "--period", "day", "--amount-usd", "-3"], "must be positive"),
        (["--scope", "global", "--period", "day", "--amount-usd", "1", "--mode", "x"], "bad mode"),
        (["--scope", "global", "--period", "day", "--amount-usd", "1", "--thresholds", "80,50"],
         "ascending"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["budgets", "create", *args])
    assert result.exit_code == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_overlap_duplicate_and_missing() -> None:
    base = ["budgets", "create", "--scope", "global", "--period", "day", "--amount-usd", "1"]
    ok(*base, "--name", "a")
    again = runner.invoke(app, [*base, "--name", "b"])
    assert again.exit_code == 2 and "already covers global per day" in again.stderr
    dup = runner.invoke(app, [*base, "--name", "a", "--mode", "hard"])
    assert dup.exit_code == 2 and "already exists" in dup.stderr
    for cmd in (["update", "zzz", "--amount-usd", "2"], ["delete", "zzz"]):
        missing = runner.invoke(app, ["budgets", *cmd])
        assert missing.exit_code == 2 and "no budget named 'zzz'" in missing.stderr


def test_money_prints_like_cost_plain_and_fixed_places() -> None:
    ok("budgets", "create", "--scope", "global", "--period", "day", "--amount-usd", "12.5")
    [row] = json.loads(ok("budgets", "list", "--json"))
    money = [row[k] for k in ("amount_usd", "spent_usd", "reserved_usd", "remaining_usd")]
    assert money == ["12.5000000000", "0.0000000000", "0.0000000000", "12.5000000000"]
    assert "12.5000000000" in ok("budgets", "list", "--exact")
    assert "12.5000000000" in ok("budgets", "list", "--wide")


def test_list_fits_80_columns_in_cents(monkeypatch: pytest.MonkeyPatch) -> None:
    ok("budgets", "create", "--scope", "tag:team=search-platform", "--period", "rolling:7d",
       "--amount-usd", "1234.5678901234", "--mode", "hard",
       "--name", "search-platform-weekly")  # fmt: skip
    monkeypatch.setenv("COLUMNS", "80")
    out = ok("budgets", "list")
    lines = out.splitlines()
    assert len(lines) == 2 and max(len(line) for line in lines) <= 80, out
    assert "1,234.57" in lines[1] and "1234.5678901234" not in out and "reserved" not in out
    assert "hard" in lines[1] and "rolling:7d" in lines[1]
    wide = ok("budgets", "list", "--wide")
    assert "1234.5678901234" in wide and "reserved" in wide and "search-platform-weekly" in wide


@pytest.mark.parametrize("group", ["budgets", "alerts"])
def test_list_on_unmigrated_database_is_one_line(
    group: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty.db").touch()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", url)
    result = runner.invoke(app, [group, "list"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: the database at {url} has no spendscope tables: run `spendscope db upgrade` first"
    ]
