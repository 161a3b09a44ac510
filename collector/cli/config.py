"""``spendscope config …``: see the effective configuration and the documented defaults."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from collector.cli.common import settings_or_exit
from collector.settings_doc import effective, env_example, markdown_table

config_app = typer.Typer(help="Configuration: effective values and documented defaults.")


@config_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting's effective value (secrets masked)."""
    values = effective(settings_or_exit())
    if as_json:
        typer.echo(json.dumps(values, indent=2))
        return
    table = Table("variable", "value")
    for name, value in values.items():
        table.add_row(name, value)
    Console().print(table)


@config_app.command("env-example")
def env_example_cmd(
    markdown: bool = typer.Option(False, "--markdown", help="The README table instead."),
) -> None:
    """Print the documented .env.example (or the README's configuration table)."""
    typer.echo(markdown_table() if markdown else env_example())


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
