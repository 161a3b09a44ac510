"""``spendscope keys …``: issue, list and revoke virtual keys.

A new key is printed once, on stdout alone (so ``KEY=$(spendscope keys create …)`` works);
everything else goes to stderr. The database must already be migrated.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from collector.cli.common import database_errors, engine_or_exit, fail
from collector.db import session_scope
from collector.keys import KeyInfo, create_key, list_keys, revoke_key

keys_app = typer.Typer(help="Virtual keys: create, list, revoke.", no_args_is_help=True)


def parse_tags(items: list[str]) -> dict[str, str]:
    """``["k=v", …]`` → dict; a malformed or repeated tag is a one-line error."""
    tags: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--tag must look like key=value, got {item!r}")
        if key.strip() in tags:
            fail(f"--tag {key.strip()!r} given twice")
        tags[key.strip()] = value.strip()
    return tags


@keys_app.command("create")
def create(
    project: Annotated[str, typer.Option(help="Project the key spends for (created if new).")],
    user: Annotated[str | None, typer.Option(help="End user the key belongs to.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="key=value; repeatable.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute limit.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute limit.")] = None,
    name: Annotated[str | None, typer.Option(help="A label for people.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Create a key and print it once: only its hash is stored, it cannot be shown again."""
    tags = parse_tags(tag or [])
    engine = engine_or_exit()
    try:
        with database_errors(), session_scope(engine) as session:
            created = create_key(
                session, project=project, user=user, tags=tags, rpm=rpm, tpm=tpm, name=name,
                now=datetime.now(UTC),
            )  # fmt: skip
    finally:
        engine.dispose()
    if as_json:
        payload = {"key": created.raw_key, "id": created.id, "prefix": created.prefix}
        typer.echo(json.dumps(payload | {"project": project.strip()}))
    else:
        typer.echo(created.raw_key)
    typer.echo(
        f"created key {created.prefix}… (id {created.id}) in project {project.strip()!r}. "
        "Store it now: it cannot be shown again.",
        err=True,
    )


def _key_json(key: KeyInfo) -> dict[str, Any]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "project": key.project,
        "name": key.name,
        "user": key.end_user,
        "tags": dict(key.tags),
        "rpm": key.rpm,
        "tpm": key.tpm,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def _table(keys: list[KeyInfo]) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("id", "prefix", "project", "name", "user", "tags", "rpm", "tpm", "created",
                   "revoked"):  # fmt: skip
        table.add_column(column, no_wrap=column in {"id", "prefix", "created", "revoked"})
    for key in keys:
        table.add_row(
            str(key.id), key.prefix, key.project, key.name or "", key.end_user or "",
            ",".join(f"{k}={v}" for k, v in key.tags.items()),
            "" if key.rpm is None else str(key.rpm), "" if key.tpm is None else str(key.tpm),
            f"{key.created_at:%Y-%m-%d}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )  # fmt: skip
    return table


@keys_app.command("list")
def list_cmd(
    project: Annotated[str | None, typer.Option(help="Only keys of this project.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List keys (never their hashes): prefix, project, user, tags, limits, created, revoked."""
    engine = engine_or_exit()
    try:
        with database_errors(), session_scope(engine) as session:
            keys = list_keys(session, project=project)
    finally:
        engine.dispose()
    if as_json:
        for key in keys:
            typer.echo(json.dumps(_key_json(key)))
    elif not keys:
        typer.echo("no keys", err=True)
    else:
        Console().print(_table(keys))


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id, its display prefix, or the key.")],
) -> None:
    """Revoke a key; other gateways refuse it once their key cache expires (30 s default)."""
    engine = engine_or_exit()
    now = datetime.now(UTC)
    try:
        with database_errors(), session_scope(engine) as session:
            info = revoke_key(session, key, now)
    finally:
        engine.dispose()
    already = "was already revoked" if info.revoked_at != now else "revoked"
    when = f"{info.revoked_at:%Y-%m-%d %H:%M:%S}"
    typer.echo(f"key {info.prefix}… (id {info.id}) {already} at {when} UTC")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
