"""``spendscope tokens``: count a chat request's prompt tokens offline, as the API would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]


class _InputError(Exception):
    """A user-facing input problem: reported as one line on stderr, exit status 2."""


def _read_json(path: Path, what: str) -> Any:
    """Parse a JSON file, turning every failure into one readable line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _InputError(f"{what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(f"cannot read {what} file {path}: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _InputError(f"{what} file {path} is not valid JSON: {exc}") from None


def _object_list(value: Any, what: str) -> list[dict[str, Any]]:
    """Require a JSON array of objects (the shape of ``messages`` and ``tools``)."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise _InputError(f"{what} must be a JSON array of objects")
    return value


def _check_roles(messages: list[dict[str, Any]]) -> None:
    """Reject roles the Chat Completions API would reject, naming the first bad one."""
    from collector.tokens import CHAT_ROLES

    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in CHAT_ROLES:
            allowed = ", ".join(sorted(CHAT_ROLES))
            raise _InputError(f"messages[{index}] has role {role!r}; expected one of: {allowed}")


def _count(model: str, messages_file: Path, tools_file: Path | None) -> int:
    """Load, validate and count; imports the tokenizer lazily so ``--help`` stays fast."""
    messages = _object_list(_read_json(messages_file, "messages"), "messages")
    _check_roles(messages)
    tools = None
    if tools_file is not None:
        tools = _object_list(_read_json(tools_file, "tools"), "tools")
    from collector.tokens import count_chat_prompt_tokens

    return count_chat_prompt_tokens(messages, model, tools)


def tokens(
    model: Annotated[str, typer.Option("--model", help="Model name, e.g. gpt-4o.")],
    messages: Annotated[
        Path, typer.Option("--messages", help="JSON file holding the messages array.")
    ],
    tools: Annotated[
        Path | None, typer.Option("--tools", help="JSON file holding the tools array.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Count the prompt tokens OpenAI will report for a chat request."""
    try:
        count = _count(model, messages, tools)
    except _InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    from collector.tokens import encoding_is_assumed, encoding_name_for_model

    assumed = encoding_is_assumed(model)
    encoding = encoding_name_for_model(model)
    if assumed:
        typer.echo(f"note: unknown model {model!r}; assumed the {encoding} encoding", err=True)
    if as_json:
        payload = {"model": model, "prompt_tokens": count, "encoding": encoding}
        typer.echo(json.dumps({**payload, "encoding_assumed": assumed}))
    else:
        typer.echo(str(count))


def register(app: typer.Typer) -> None:
    """Add the ``tokens`` command to the spendscope CLI."""
    app.command("tokens")(tokens)
