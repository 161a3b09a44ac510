"""Model names to encodings."""

from __future__ import annotations

import pytest

from collector.tokens import (
    DEFAULT_ENCODING,
    encoding_for_model,
    encoding_is_assumed,
    encoding_name_for_model,
)


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini",
        "chatgpt-4o-latest",
        "gpt-4.1",
        "gpt-4.1-nano-2025-04-14",
        "gpt-5",
        "gpt-5-mini",
        "o1",
        "o1-mini",
        "o3",
        "o3-mini-2025-01-31",
        "o4-mini",
        "gpt-image-1",
        "ft:gpt-4o-mini-2024-07-18:acme::abc123",
        "openai/gpt-4o",
        "GPT-4O",
    ],
)
def test_o200k_models(model: str) -> None:
    assert encoding_name_for_model(model) == "o200k_base"


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4",
        "gpt-4-0613",
        "gpt-4-32k",
        "gpt-4-turbo",
        "gpt-4-turbo-2024-04-09",
        "gpt-3.5-turbo",
        "gpt-3.5-turbo-0125",
        "gpt-35-turbo",
        "text-embedding-ada-002",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "ft:gpt-3.5-turbo-0125:acme:custom:xyz",
        "ft:gpt-4-0613:acme::id",
    ],
)
def test_cl100k_models(model: str) -> None:
    assert encoding_name_for_model(model) == "cl100k_base"


@pytest.mark.parametrize("model", ["my-azure-deployment", "", "omni-moderation-latest", "o"])
def test_unknown_models_default_to_o200k(model: str) -> None:
    assert DEFAULT_ENCODING == "o200k_base"
    assert encoding_name_for_model(model) == DEFAULT_ENCODING


def test_encoding_for_model_returns_the_mapped_encoding() -> None:
    assert encoding_for_model("gpt-4").name == "cl100k_base"
    assert encoding_for_model("gpt-4o").name == "o200k_base"


@pytest.mark.parametrize(
    ("model", "assumed"),
    [
        ("gpt-4o", False),
        ("o3-mini", False),
        ("ft:gpt-4o-mini-2024-07-18:acme::x", False),
        ("text-embedding-3-small", False),
        ("gpt-5.1-codex", False),
        ("homebrew-llm", True),
        ("claude-sonnet", True),
    ],
)
def test_encoding_is_assumed_only_for_unknown_models(model: str, assumed: bool) -> None:
    assert encoding_is_assumed(model) is assumed
