"""Wire usage shapes → ``Usage``: OpenAI's inclusion rules hold even for inconsistent details."""

from __future__ import annotations

from collector.gateway._intake import Kind
from collector.gateway._usage import usage_from_wire
from collector.usage import Usage


def test_chat_usage_with_details() -> None:
    wire = {
        "prompt_tokens": 100,
        "completion_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 5},
        "completion_tokens_details": {"reasoning_tokens": 30, "audio_tokens": 2},
    }
    assert usage_from_wire(Kind.CHAT, wire) == Usage(
        prompt_tokens=100, completion_tokens=40, cached_tokens=64, reasoning_tokens=30,
        audio_prompt_tokens=5, audio_completion_tokens=2,
    )  # fmt: skip


def test_responses_usage_with_details() -> None:
    wire = {
        "input_tokens": 100,
        "output_tokens": 40,
        "input_tokens_details": {"cached_tokens": 64},
        "output_tokens_details": {"reasoning_tokens": 30},
    }
    expected = Usage(prompt_tokens=100, completion_tokens=40, cached_tokens=64, reasoning_tokens=30)
    assert usage_from_wire(Kind.RESPONSES, wire) == expected


def test_details_larger_than_their_totals_are_clamped_in_both_shapes() -> None:
    chat = {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }
    responses = {
        "input_tokens": 10,
        "output_tokens": 4,
        "input_tokens_details": {"cached_tokens": 64},
        "output_tokens_details": {"reasoning_tokens": 30},
    }
    clamped = Usage(prompt_tokens=10, completion_tokens=4, cached_tokens=10, reasoning_tokens=4)
    assert usage_from_wire(Kind.CHAT, chat) == clamped
    assert usage_from_wire(Kind.RESPONSES, responses) == clamped


def test_image_tokens_count_as_image_output() -> None:
    wire = {"input_tokens": 50, "output_tokens": 4160,
            "input_tokens_details": {"text_tokens": 40, "image_tokens": 10}}  # fmt: skip
    usage = usage_from_wire(Kind.IMAGES, wire)
    assert usage is not None
    assert (usage.image_prompt_tokens, usage.image_completion_tokens) == (10, 4160)


def test_what_is_no_count_counts_zero() -> None:
    """A bool, a float, text, a negative number or a details object of another type is no
    count: read as 0, never as 1 (True) or a fraction."""
    wire = {
        "prompt_tokens": True,
        "completion_tokens": 7.5,
        "prompt_tokens_details": {"cached_tokens": "3"},
        "completion_tokens_details": [{"reasoning_tokens": 2}],
    }
    assert usage_from_wire(Kind.CHAT, wire) == Usage()
    negative = {"prompt_tokens": -4, "completion_tokens": 5, "prompt_tokens_details": None}
    assert usage_from_wire(Kind.CHAT, negative) == Usage(completion_tokens=5)
