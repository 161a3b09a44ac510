"""``--help`` of the long-running commands names where defaults come from, readably."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from collector.cli import app


@pytest.mark.parametrize(
    ("command", "host_var"),
    [("serve", "SPENDSCOPE_HOST"), ("dashboard", "SPENDSCOPE_DASHBOARD_HOST")],
)
def test_serve_help_names_env_defaults(
    command: str, host_var: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    text = result.stdout
    assert f"Address to listen on (default from {host_var})." in text
    assert "listen on ." not in text
    options = [line for line in text.splitlines() if "--port" in line or "--workers" in line]
    assert options and not any("<str>" in line for line in options)
