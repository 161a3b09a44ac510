"""The tokenizer-free prompt bound never falls below the exact count admission would take.

Bodies are drawn as the API accepts them (roles, string contents or text parts, names, tool
calls with string arguments, tool definitions with nested and enum schemas), serialised as
compactly as JSON allows (the bound's worst case), in every chat format the counters know.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.gateway._estimate import bound_prompt, estimate_prompt
from collector.gateway._intake import parse_call

# o200k_base, cl100k_base, and the framing variants (0301: 4 per message; o-series priming)
MODELS = ("gpt-4o-mini", "gpt-4", "gpt-3.5-turbo-0301", "o3-mini")

text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60
) | st.sampled_from(["<|endoftext|>", "  \n\n\t", "1234567890" * 3, "🙂" * 5, "ǅ" * 9])
name = st.from_regex(r"[a-zA-Z0-9_-]{1,20}", fullmatch=True)
part = st.fixed_dictionaries({"type": st.just("text"), "text": text})
content = text | st.lists(part, max_size=3)
tool_call = st.fixed_dictionaries(
    {
        "id": name,
        "type": st.just("function"),
        "function": st.fixed_dictionaries({"name": name, "arguments": text}),
    }
)
message = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "developer", "user", "assistant", "tool"])},
    optional={"content": content, "name": name, "tool_calls": st.lists(tool_call, max_size=2)},
)
leaf = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "number", "integer", "boolean", "null"])},
    optional={
        "description": text,
        "enum": st.lists(st.integers(-5, 5), min_size=1, max_size=6)
        | st.lists(name, min_size=1, max_size=4),
    },
)
schema = st.recursive(
    leaf,
    lambda inner: (
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(name, inner, max_size=4)},
            optional={"required": st.lists(name, max_size=2)},
        )
        | st.fixed_dictionaries({"type": st.just("array"), "items": inner})
        | st.fixed_dictionaries({"anyOf": st.lists(inner, min_size=1, max_size=3)})
    ),
    max_leaves=12,
)
function_tool = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": name},
            optional={
                "description": text,
                "parameters": st.fixed_dictionaries(
                    {"type": st.just("object"), "properties": st.dictionaries(name, schema)}
                ),
            },
        ),
    }
)
builtin_tool = st.fixed_dictionaries({"type": st.sampled_from(["web_search", "file_search"])})
tools = st.lists(function_tool | builtin_tool, min_size=1, max_size=4)


def _call(path: str, body: dict[str, Any]) -> tuple[int | None, int]:
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    call = parse_call("POST", path, b"", raw, "application/json")
    return bound_prompt(call), estimate_prompt(call)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(MODELS),
    messages=st.lists(message, min_size=1, max_size=6),
    tool_list=st.none() | tools,
)
def test_chat_bound_covers_the_exact_count(
    model: str, messages: list[dict[str, Any]], tool_list: list[dict[str, Any]] | None
) -> None:
    body: dict[str, Any] = {"model": model, "messages": messages}
    if tool_list is not None:
        body["tools"] = tool_list
    bound, exact = _call("/v1/chat/completions", body)
    assert bound is not None and bound >= exact


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(MODELS),
    items=text
    | st.lists(
        st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": content})
        | st.fixed_dictionaries(
            {"type": st.just("function_call"), "call_id": name, "name": name, "arguments": text}
        )
        | st.fixed_dictionaries(
            {"type": st.just("function_call_output"), "call_id": name, "output": text}
        ),
        min_size=1,
        max_size=5,
    ),
    instructions=st.none() | text,
    tool_list=st.none() | tools,
)
def test_responses_bound_covers_the_exact_count(
    model: str, items: Any, instructions: str | None, tool_list: list[dict[str, Any]] | None
) -> None:
    body: dict[str, Any] = {"model": model, "input": items}
    if instructions is not None:
        body["instructions"] = instructions
    if tool_list is not None:
        body["tools"] = tool_list
    bound, exact = _call("/v1/responses", body)
    assert bound is not None and bound >= exact


@settings(max_examples=100, deadline=None)
@given(
    inputs=text
    | st.lists(text, min_size=1, max_size=4)
    | st.lists(st.integers(0, 100_000), min_size=1, max_size=20)
    | st.lists(st.lists(st.integers(0, 9), min_size=1, max_size=9), min_size=1, max_size=3)
)
def test_embeddings_bound_covers_the_exact_count(inputs: Any) -> None:
    bound, exact = _call("/v1/embeddings", {"model": "text-embedding-3-small", "input": inputs})
    assert bound is not None and bound >= exact


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/i.png"}}],
                    }
                ],
            },
        ),
        (
            "/v1/responses",
            {
                "model": "gpt-4o-mini",
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "image_url": "https://x"}]}
                ],
            },
        ),
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [], "tools": ["nope"]}),
        ("/v1/responses", {"model": "gpt-4o-mini", "input": {"not": "a list"}}),
        ("/v1/moderations", {"model": "omni-moderation-latest", "input": "hello"}),
    ],
)
def test_no_bound_where_bytes_do_not_bound_the_tokens(path: str, body: dict[str, Any]) -> None:
    """An image's tokens are not in its URL's bytes; malformed or other bodies get no bound."""
    raw = json.dumps(body).encode()
    assert bound_prompt(parse_call("POST", path, b"", raw, "application/json")) is None


def test_an_image_is_worth_more_than_its_bytes() -> None:
    """Why images get no bound: a short URL counts for far more tokens than it has bytes."""
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}
        ],
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    call = parse_call("POST", "/v1/chat/completions", b"", raw, "application/json")
    assert estimate_prompt(call) > len(raw) + 100
