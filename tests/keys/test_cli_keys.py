"""``spendscope keys …`` through the real Typer app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from collector.cli import app
from collector.keys import hash_key, looks_like_key, resolve_key
from collector.secrets import mask_urls
from collector.settings import get_settings

runner = CliRunner()


@pytest.fixture
def cli_db(migrated_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    get_settings.cache_clear()
    return migrated_url


def _create(*args: str) -> str:
    result = runner.invoke(app, ["keys", "create", "--project", "acme", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_create_prints_the_key_once_on_stdout(cli_db: str, engine: Engine) -> None:
    result = runner.invoke(
        app, ["keys", "create", "--project", "acme", "--user", "alice", "--tag", "team=search",
              "--tag", "env=prod", "--rpm", "60", "--tpm", "90000", "--name", "ci"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip()
    assert looks_like_key(raw) and result.stdout.count("sk-ss-") == 1
    assert "cannot be shown again" in result.stderr
    assert raw not in result.stderr
    principal = resolve_key(engine, raw)
    assert principal is not None
    assert (principal.project, principal.end_user, principal.rpm, principal.tpm) == (
        "acme", "alice", 60, 90000)  # fmt: skip
    assert dict(principal.tags) == {"team": "search", "env": "prod"}


def test_create_json(cli_db: str, engine: Engine) -> None:
    result = runner.invoke(app, ["keys", "create", "--project", "acme", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["prefix"] == payload["key"][:14] and payload["project"] == "acme"
    principal = resolve_key(engine, payload["key"])
    assert principal is not None and principal.api_key_id == payload["id"]


def test_list_shows_keys_but_never_secrets(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    raw = _create("--tag", "team=search", "--rpm", "5")
    other = runner.invoke(app, ["keys", "create", "--project", "other"]).stdout.strip()
    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["prefix"], r["project"]) for r in rows] == [
        (raw[:14], "acme"),
        (other[:14], "other"),
    ]
    assert rows[0]["tags"] == {"team": "search"} and rows[0]["rpm"] == 5
    only = runner.invoke(app, ["keys", "list", "--json", "--project", "other"]).stdout
    assert [json.loads(line)["prefix"] for line in only.splitlines()] == [other[:14]]
    table = runner.invoke(app, ["keys", "list"])
    for output in (listed.stdout, table.stdout):
        assert raw not in output and hash_key(raw) not in output
    assert raw[:14] in table.stdout and "team=search" in table.stdout


def test_revoke(cli_db: str, engine: Engine) -> None:
    raw = _create()
    result = runner.invoke(app, ["keys", "revoke", raw[:14]])
    assert result.exit_code == 0, result.output
    assert "revoked" in result.stdout
    assert resolve_key(engine, raw) is None
    again = runner.invoke(app, ["keys", "revoke", raw[:14]])
    assert again.exit_code == 0 and "already revoked" in again.stdout
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).stdout)
    assert listed["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--project", "acme", "--tag", "novalue"], "key=value"),
        (["create", "--project", "acme", "--tag", "a=1", "--tag", "a=2"], "twice"),
        (["create", "--project", "acme", "--tag", "bad key=1"], "tag key"),
        (["create", "--project", "acme", "--rpm", "-5"], "rpm"),
        (["create", "--project", "acme", "--tpm", "0"], "tpm"),
        (["create", "--project", ""], "project"),
        (["revoke", "sk-ss-unknown"], "no key"),
        (["revoke", "999"], "no key"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli_db: str, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["keys", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "sk-ss-" not in result.stdout


@pytest.mark.parametrize("command", [["list"], ["create", "--project", "p"], ["revoke", "1"]])
def test_unmigrated_database_says_what_to_run(
    db_url: str, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    if db_url.startswith("sqlite:///"):
        Path(db_url.removeprefix("sqlite:///")).touch()  # an empty file: no tables
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["keys", *command])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: the database at {mask_urls(db_url)} has no spendscope tables: "
        "run `spendscope db upgrade` first"
    ]
