"""A run imports only the domain that owns its command: the map in ``collector.cli`` says
which commands each domain registers, and it must say so truly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from collector import cli


def _names(app: typer.Typer) -> set[str]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return set(group.commands)


@pytest.mark.parametrize("domain", list(cli._DOMAINS))
def test_each_domain_registers_exactly_the_commands_listed_for_it(domain: str) -> None:
    assert _names(cli.build_app((domain,))) == set(cli._DOMAINS[domain])


def test_the_whole_app_holds_every_listed_command_once() -> None:
    listed = [name for names in cli._DOMAINS.values() for name in names]
    assert len(listed) == len(set(listed))
    assert _names(cli.app) == set(listed)


@pytest.mark.parametrize(
    ("args", "domain"),
    [
        (["serve", "--port", "1"], "collector.cli.serve"),
        (["prices", "list"], "collector.cli.pricing"),
    ],
)
def test_a_command_gets_its_own_domain_only(args: list[str], domain: str) -> None:
    assert _names(cli.app_for(args)) == set(cli._DOMAINS[domain])


@pytest.mark.parametrize("args", [[], ["--help"], ["no-such-command"]])
def test_help_and_unknown_commands_get_the_whole_app(args: list[str]) -> None:
    assert _names(cli.app_for(args)) == _names(cli.app)


def test_a_lone_command_stays_a_subcommand() -> None:
    """With one command registered, Typer would make it the root: ``spendscope serve --help``
    must still read as the subcommand's help."""
    result = CliRunner().invoke(cli.app_for(["serve"]), ["serve", "--help"])
    assert result.exit_code == 0, result.output
    assert "spendscope serve [OPTIONS]" in result.output.replace("root", "spendscope")


def test_serve_imports_neither_the_database_layer_nor_the_gateway() -> None:
    """``spendscope serve`` with one worker only checks flags and settings before it becomes the
    serving program, which imports (and migrates) for itself."""
    code = (
        "import sys, collector.cli as c\n"
        "c.app_for(['serve'])\n"
        "print(sorted(m for m in sys.modules if m in ('collector.db', 'collector.gateway', "
        "'collector.cli.report', 'alembic')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
