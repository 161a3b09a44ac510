"""The pseudo-text's token count must equal the number of pieces in every OpenAI encoding."""

from __future__ import annotations

import pytest

from collector.mock_upstream._state import cached_for
from collector.mock_upstream._text import TextBank, tool_arguments
from collector.tokens import count_text_tokens


@pytest.mark.parametrize("model", ["gpt-4", "gpt-4o-mini", "gpt-5", "o3"])
def test_piece_count_equals_token_count(model: str) -> None:
    bank = TextBank(seed=11)
    for key in range(0, 20_000, 97):
        count = 1 + key % 700
        assert count_text_tokens("".join(bank.take(key, count)), model) == count


def test_text_starts_clean_and_is_deterministic() -> None:
    one, two = TextBank(seed=5), TextBank(seed=5)
    for key in range(50):
        pieces = one.take(key, 30)
        assert pieces == two.take(key, 30)
        assert pieces[0][0].isupper()
    assert TextBank(seed=6).take(1, 30) != one.take(1, 30)


def test_cached_tokens_rule() -> None:
    assert [cached_for(n) for n in (1000, 1024, 1025, 1153, 1500)] == [0, 0, 1024, 1152, 1408]


def test_tool_arguments_follow_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["a", "b"]},
            "opt": {"type": ["null", "boolean"]},
        },
    }
    assert tool_arguments(schema) == {"n": 1, "tags": ["mock"], "kind": "a", "opt": True}
