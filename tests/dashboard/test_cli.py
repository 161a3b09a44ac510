"""``spendscope dashboard``: one clear line for bad flags or missing logins; hash helper."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from collector.cli import app
from dashboard.passwords import parse_users, verify_password


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "Invalid value for '--port'"),
        (["--port", "70000"], "Invalid value for '--port'"),
        (["--prot", "1"], "No such option: --prot"),
        (["hash-password", "--bogus"], "No such option: --bogus"),
    ],
)
def test_bad_flags_print_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["dashboard", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_without_logins_it_refuses_to_start_saying_what_to_set() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--port", "8999"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "SPENDSCOPE_DASHBOARD_USERS" in line and "SPENDSCOPE_DASHBOARD_ALLOW_ANONYMOUS" in line


def test_hash_password_prints_a_usable_entry() -> None:
    result = CliRunner().invoke(
        app,
        ["dashboard", "hash-password", "--user", "ana", "--role", "admin", "--password-stdin"],
        input="pa55word\n",
    )
    assert result.exit_code == 0
    entry = result.output.strip()
    user = parse_users(entry)["ana"]
    assert user.role == "admin" and verify_password("pa55word", user.password_hash)
