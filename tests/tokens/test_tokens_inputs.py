"""Completion, Responses-API and embeddings counts."""

from __future__ import annotations

from typing import Any

from collector.tokens import (
    count_chat_prompt_tokens,
    count_completion_tokens,
    count_embedding_input_tokens,
    count_responses_input_tokens,
    count_text_tokens,
    encoding_for_model,
)


def test_completion_tokens_are_the_streamed_text() -> None:
    text = "Hello! How can I help you today?"
    assert count_completion_tokens(text, "gpt-4o") == count_text_tokens(text, "gpt-4o")
    assert count_completion_tokens("", "gpt-4o") == 0


def test_completion_tool_calls_add_name_arguments_and_framing() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    expected = count_text_tokens("f", "gpt-4o") + count_text_tokens('{"a": 1}', "gpt-4o") + 3
    assert count_completion_tokens("", "gpt-4o", [call]) == expected


def test_responses_string_input_equals_a_user_chat_message() -> None:
    chat = count_chat_prompt_tokens(
        [{"role": "developer", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
        "gpt-4.1",
    )
    assert count_responses_input_tokens("Hi", "Be terse.", "gpt-4.1") == chat


def test_responses_items_and_flat_tools() -> None:
    items: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
        {"type": "function_call", "call_id": "1", "name": "weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "1", "output": "-3C"},
        {"type": "reasoning", "summary": []},
    ]
    tool = {"type": "function", "name": "weather", "description": "Get weather", "parameters": {}}
    without_tools = count_responses_input_tokens(items, None, "gpt-4.1")
    with_tools = count_responses_input_tokens(items, None, "gpt-4.1", [tool])
    assert without_tools > count_responses_input_tokens(items[:1], None, "gpt-4.1")
    assert with_tools > without_tools


def test_embedding_inputs() -> None:
    model = "text-embedding-3-small"
    encoding = encoding_for_model(model)
    assert count_embedding_input_tokens("hello world", model) == 2
    assert count_embedding_input_tokens(["hello world", "hi"], model) == 2 + len(
        encoding.encode("hi")
    )
    assert count_embedding_input_tokens([15339, 1917, 0], model) == 3
    assert count_embedding_input_tokens([[1, 2, 3], [4]], model) == 4
    assert count_embedding_input_tokens([], model) == 0
