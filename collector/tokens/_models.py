"""Which tokenizer a model uses, and which prompt-counting family it belongs to.

Only the two encodings current OpenAI models use are supported (both ship offline).
Unknown model names default to ``o200k_base``: every model OpenAI released since
gpt-4o (May 2024) uses it, so a new name is far likelier to be o200k than cl100k.
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_ENCODING", "base_model", "encoding_is_assumed", "encoding_name_for_model"]

DEFAULT_ENCODING = "o200k_base"

# Prefixes cross-checked against tiktoken 0.14.0 tiktoken/model.py (MODEL_PREFIX_TO_ENCODING),
# extended with families it does not list yet (gpt-image, o-series without a suffix, Azure names).
# Order matters: "gpt-4o" and "gpt-4.1" must win over "gpt-4".
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-image", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("codex-mini", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-", "cl100k_base"),
    ("davinci-002", "cl100k_base"),
    ("babbage-002", "cl100k_base"),
)
_O_SERIES = re.compile(r"^o[1-9](?:$|-)")


def base_model(model: str) -> str:
    """Strip what does not change the tokenizer: ``ft:<base>:org:...`` and an ``openai/`` vendor."""
    name = model.strip().lower()
    if name.startswith("openai/"):
        name = name[len("openai/") :]
    if name.startswith("ft:"):
        name = name.split(":")[1] if name.count(":") >= 1 else name
    return name


def encoding_name_for_model(model: str) -> str:
    """Map a model (or fine-tune of one) to ``o200k_base`` or ``cl100k_base``."""
    name = base_model(model)
    if _O_SERIES.match(name):
        return "o200k_base"
    for prefix, encoding in _PREFIXES:
        if name.startswith(prefix):
            return encoding
    return DEFAULT_ENCODING


def encoding_is_assumed(model: str) -> bool:
    """True when no rule knows ``model``: its encoding is the default, assumed, not known."""
    name = base_model(model)
    if _O_SERIES.match(name):
        return False
    return not any(name.startswith(prefix) for prefix, _ in _PREFIXES)
