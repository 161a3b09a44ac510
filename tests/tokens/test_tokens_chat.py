"""Chat prompt counts against numbers the OpenAI API itself reported."""

from __future__ import annotations

from typing import Any

import pytest

from collector.tokens import count_chat_prompt_tokens, count_text_tokens

# OpenAI cookbook, examples/How_to_count_tokens_with_tiktoken.ipynb (openai/openai-cookbook
# @ c81359cdc6744f001e40c08a192604c5113fdab3), section 6: the API's own prompt_tokens.
COOKBOOK_MESSAGES: list[dict[str, Any]] = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]

# Same notebook, section 7: tools example and the API's prompt_tokens.
COOKBOOK_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
COOKBOOK_TOOL_MESSAGES: list[dict[str, Any]] = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
        # Older revision of the notebook (@ 06d9feb5): the 0301 snapshot's own template.
        ("gpt-3.5-turbo-0301", 127),
    ],
)
def test_cookbook_messages_match_api(model: str, expected: int) -> None:
    assert count_chat_prompt_tokens(COOKBOOK_MESSAGES, model) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_cookbook_tools_match_api(model: str, expected: int) -> None:
    assert count_chat_prompt_tokens(COOKBOOK_TOOL_MESSAGES, model, COOKBOOK_TOOLS) == expected


def _fn(name: str, properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A legacy ``functions`` entry (bare definition), as in hmarr's test data."""
    return {"name": name, "parameters": {"type": "object", "properties": properties}, **extra}


_HELLO = [{"role": "user", "content": "hello"}]
_SYS_HI = [{"role": "system", "content": "Hello"}, {"role": "user", "content": "Hi there"}]

# coderabbitai/openai-chat-tokens src/token-counts.test.ts: prompt_tokens the API reported
# for gpt-3.5-turbo (cl100k_base) for each request.
HMARR_CASES: list[tuple[list[dict[str, Any]], list[dict[str, Any]] | None, Any, int]] = [
    ([{"role": "user", "content": "hello world"}], None, None, 9),
    (
        [
            {"role": "system", "content": "# Important: you're the best robot"},
            {"role": "user", "content": "hello robot"},
            {"role": "assistant", "content": "hello world"},
        ],
        None,
        None,
        27,
    ),
    (_HELLO, [_fn("foo", {})], None, 31),
    (_HELLO, [_fn("foo", {})], "none", 32),
    (_HELLO, [_fn("foo", {})], "auto", 31),
    (_HELLO, [_fn("foo", {})], {"name": "foo"}, 36),
    (_HELLO, [_fn("foo", {}, description="Do a foo")], None, 36),
    (
        _HELLO,
        [
            _fn(
                "bing_bong",
                {"foo": {"type": "string"}, "bar": {"type": "number", "description": "A number"}},
                description="Do a bing bong",
            )
        ],
        None,
        57,
    ),
    (
        _HELLO,
        [
            _fn(
                "bing_bong",
                {
                    "foo": {
                        "type": "object",
                        "properties": {
                            "bar": {"type": "string", "enum": ["a", "b", "c"]},
                            "baz": {"type": "boolean"},
                        },
                    }
                },
                description="Do a bing bong",
            )
        ],
        None,
        68,
    ),
    (
        [
            {"role": "user", "content": "hello world"},
            {"role": "function", "name": "do_stuff", "content": '{"foo": "bar", "baz": 1.5}'},
        ],
        None,
        None,
        28,
    ),
    (
        [
            {
                "role": "assistant",
                "content": "",
                "function_call": {"name": "do_stuff", "arguments": '{"foo": "bar", "baz": 1.5}'},
            }
        ],
        None,
        None,
        26,
    ),
    (
        _SYS_HI,
        [
            _fn(
                "do_stuff",
                {"foo": {"anyOf": [{"type": "string", "const": "a"}, {"type": "number"}]}},
            )
        ],
        None,
        44,
    ),
    (_SYS_HI, [_fn("do_stuff", {})], None, 35),
    (
        [{"role": "system", "content": "Hello:"}, *_SYS_HI],
        [_fn("do_stuff", {}), _fn("do_other_stuff", {})],
        {"name": "do_stuff"},
        55,
    ),
]


@pytest.mark.parametrize(("messages", "functions", "choice", "expected"), HMARR_CASES)
def test_api_verified_function_cases(
    messages: list[dict[str, Any]],
    functions: list[dict[str, Any]] | None,
    choice: Any,
    expected: int,
) -> None:
    got = count_chat_prompt_tokens(messages, "gpt-3.5-turbo", functions, tool_choice=choice)
    assert got == expected


def test_recipe_schema_with_arrays_and_required() -> None:
    # Same source: nested array-of-object schema with required keys -> 106.
    item = {
        "type": "object",
        "required": ["name", "unit", "amount"],
        "properties": {
            "name": {"type": "string"},
            "unit": {"enum": ["grams", "ml", "cups", "pieces", "teaspoons"], "type": "string"},
            "amount": {"type": "number"},
        },
    }
    parameters = {
        "type": "object",
        "required": ["ingredients", "instructions", "time_to_cook"],
        "properties": {
            "ingredients": {"type": "array", "items": item},
            "instructions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Steps to prepare the recipe (no numbering)",
            },
            "time_to_cook": {
                "type": "number",
                "description": "Total time to prepare the recipe in minutes",
            },
        },
    }
    tools = [{"type": "function", "function": {"name": "get_recipe", "parameters": parameters}}]
    assert count_chat_prompt_tokens(_HELLO, "gpt-3.5-turbo", tools) == 106


def test_tool_calls_and_tool_results_add_their_text() -> None:
    call = {"name": "get_current_weather", "arguments": '{"location": "Paris"}'}
    base = [{"role": "user", "content": "Weather in Paris?"}]
    with_call: list[dict[str, Any]] = [
        *base,
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "function": call}]},
        {"role": "tool", "tool_call_id": "c1", "content": "18C and sunny"},
    ]
    model = "gpt-4o"
    extra = count_chat_prompt_tokens(with_call, model) - count_chat_prompt_tokens(base, model)
    call_tokens = (
        3 + count_text_tokens(call["name"], model) + count_text_tokens(call["arguments"], model)
    )
    assistant = 3 + count_text_tokens("assistant", model) + call_tokens
    tool = 3 + count_text_tokens("tool", model) + count_text_tokens("18C and sunny", model)
    assert extra == assistant + tool


def test_text_parts_count_like_a_string() -> None:
    as_string = [{"role": "user", "content": "Describe the weather today."}]
    as_parts = [
        {"role": "user", "content": [{"type": "text", "text": "Describe the weather today."}]}
    ]
    assert count_chat_prompt_tokens(as_parts, "gpt-4o") == count_chat_prompt_tokens(
        as_string, "gpt-4o"
    )


def test_reasoning_models_prime_the_reply_with_one_token_less() -> None:
    messages = [{"role": "user", "content": "Say hello world"}]
    assert (
        count_chat_prompt_tokens(messages, "o3") == count_chat_prompt_tokens(messages, "gpt-4o") - 1
    )


def test_special_token_text_is_counted_as_plain_text() -> None:
    messages = [{"role": "user", "content": "<|endoftext|>"}]
    assert count_chat_prompt_tokens(messages, "gpt-4o") > 3 + 1 + 1 + 3
