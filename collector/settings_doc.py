"""Render the settings' own documentation (``.env.example``, the README table) from the class,
so every variable is documented once, where it is declared."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from collector.secrets import MASK, redact
from collector.settings import Settings

_SECRET_WORDS = ("password", "secret", "token", "key")


def env_name(field: str) -> str:
    return f"SPENDSCOPE_{field.upper()}"


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def _render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def env_example() -> str:
    """The text of ``.env.example``: every variable, commented, with its default."""
    lines = ["# spendscope configuration: copy to .env and uncomment what you change.", ""]
    for name, info in Settings.model_fields.items():
        lines.append(f"# {info.description}")
        lines.append(f"# {env_name(name)}={_render(_default(info))}")
        lines.append("")
    return "\n".join(lines)


def markdown_table() -> str:
    """The README's configuration table."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = _render(_default(info)).replace("|", "\\|")
        rows.append(f"| `{env_name(name)}` | `{default}` | {info.description} |")
    return "\n".join(rows)


def effective(settings: Settings) -> dict[str, str]:
    """Current values by variable, with secrets masked."""
    out: dict[str, str] = {}
    for name in Settings.model_fields:
        value = _render(getattr(settings, name))
        if value and any(word in name for word in _SECRET_WORDS) and "prefix" not in name:
            value = MASK
        out[env_name(name)] = redact(value)  # passwords inside URLs (database, Redis, …)
    return out


def sync_files(root: Path) -> None:
    """Rewrite ``.env.example`` and the README's settings table (``make docs``)."""
    (root / ".env.example").write_text(env_example())
    readme = root / "README.md"
    start, end = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
    text = readme.read_text()
    head, rest = text.split(start)
    _, tail = rest.split(end)
    readme.write_text(f"{head}{start}\n{markdown_table()}\n{end}{tail}")


if __name__ == "__main__":
    sync_files(Path.cwd())
