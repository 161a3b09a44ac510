"""Render tool/function definitions the way the model sees them, to count their tokens.

OpenAI does not show the model JSON Schema: it rewrites functions into a TypeScript-like
``namespace functions { ... }`` block. The rendering rules (comment lines for descriptions,
nested descriptions dropped, ``?`` for optional keys, enums as unions, anyOf as unions) were
reverse-engineered against the API by hmarr/openai-chat-tokens (and its coderabbitai fork),
whose test cases record the API's own prompt_tokens. With its constants (+9 for the block,
-4 when a system message exists, "\\n" appended to the first system message) the rendering
also reproduces the OpenAI cookbook's tools example: 105 tokens (gpt-4) and 101 (gpt-4o).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["function_definitions", "render_functions"]

FUNCTIONS_OVERHEAD = 9  # hmarr/openai-chat-tokens: "Add nine per completion"
SYSTEM_REUSE_DISCOUNT = 4  # ... "subtract four tokens" when a system message already exists


def function_definitions(tools: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Normalise chat tools, Responses tools and legacy ``functions`` to bare definitions."""
    result: list[Mapping[str, Any]] = []
    for tool in tools:
        inner = tool.get("function")
        if isinstance(inner, Mapping):
            result.append(inner)
        elif isinstance(tool.get("name"), str):
            result.append(tool)
        elif isinstance(tool.get("type"), str):
            # Built-in tools (web_search, file_search, ...) are described by OpenAI, not the
            # caller; their prompt cost is undocumented, so approximate them by their type.
            result.append({"name": tool["type"]})
    return result


def render_functions(functions: Sequence[Mapping[str, Any]]) -> str:
    """The ``namespace functions`` block for the given definitions."""
    lines = ["namespace functions {", ""]
    for function in functions:
        description = function.get("description")
        if description:
            lines.append(f"// {description}")
        parameters = function.get("parameters")
        name = function.get("name", "")
        if isinstance(parameters, Mapping) and parameters.get("properties"):
            lines.append(f"type {name} = (_: {{")
            lines.append(_render_properties(parameters, 0))
            lines.append("}) => any;")
        else:
            lines.append(f"type {name} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _render_properties(schema: Mapping[str, Any], indent: int) -> str:
    """One ``name?: type,`` line per property; descriptions only at the top level."""
    required = schema.get("required") or ()
    lines: list[str] = []
    properties = schema.get("properties") or {}
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        description = prop.get("description")
        if description and indent < 2:
            lines.append(f"// {description}")
        optional = "" if name in required else "?"
        lines.append(f"{name}{optional}: {_render_type(prop, indent)},")
    return "\n".join(" " * indent + line for line in lines)


def _render_enum(values: Sequence[Any], quoted: bool) -> str:
    """Enums become TypeScript unions: strings quoted, numbers bare."""
    return " | ".join(f'"{value}"' if quoted else _scalar(value) for value in values)


def _scalar(value: Any) -> str:
    """A number or literal the way JavaScript's toString would print it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else json.dumps(value)


def _render_type(prop: Mapping[str, Any], indent: int) -> str:
    """The TypeScript type for one JSON Schema property."""
    if isinstance(prop.get("anyOf"), list):
        return " | ".join(_render_type(option, indent) for option in prop["anyOf"])
    kind = prop.get("type")
    enum = prop.get("enum")
    if kind == "string":
        return _render_enum(enum, quoted=True) if isinstance(enum, list) else "string"
    if kind in ("number", "integer"):
        return _render_enum(enum, quoted=False) if isinstance(enum, list) else "number"
    if kind in ("boolean", "null"):
        return str(kind)
    if kind == "object":
        return "\n".join(["{", _render_properties(prop, indent + 2), "}"])
    if kind == "array":
        items = prop.get("items")
        return f"{_render_type(items, indent)}[]" if isinstance(items, Mapping) else "any[]"
    return "any"
