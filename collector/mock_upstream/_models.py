"""Which models the mock serves, under which dated snapshot name, as OpenAI reports them.

Gateways price by the *served* model, so the mock answers ``gpt-4o-mini`` with
``gpt-4o-mini-2024-07-18`` exactly as OpenAI does; unknown families get OpenAI's 404 so
fallback paths can be exercised.
"""

from __future__ import annotations

import re
import zlib

SNAPSHOTS: dict[str, str] = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "chatgpt-4o-latest": "chatgpt-4o-latest",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "gpt-5-chat-latest": "gpt-5-chat-latest",
    "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
    "gpt-4": "gpt-4-0613",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-instruct": "gpt-3.5-turbo-instruct",
    "o1": "o1-2024-12-17",
    "o1-mini": "o1-mini-2024-09-12",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "omni-moderation-latest": "omni-moderation-2024-09-26",
    "text-moderation-latest": "text-moderation-007",
    "computer-use-preview": "computer-use-preview-2025-03-11",
}

# Families the mock accepts verbatim (already dated snapshots, embeddings, audio, images, ...).
_KNOWN_PREFIXES = (
    "gpt-",
    "chatgpt-",
    "o1",
    "o3",
    "o4",
    "text-embedding-",
    "whisper-",
    "tts-",
    "dall-e-",
    "omni-moderation-",
    "text-moderation-",
    "ft:",
    "davinci-",
    "babbage-",
)
_REASONING = re.compile(r"^(o\d|gpt-5(?!-chat))")

EMBEDDING_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}

# What GET /v1/models lists: (id, created, owned_by).
MODEL_LIST: tuple[tuple[str, int, str], ...] = (
    ("gpt-4o-mini", 1721172741, "system"),
    ("gpt-4o-mini-2024-07-18", 1721172717, "system"),
    ("gpt-4o", 1715367049, "system"),
    ("gpt-4o-2024-08-06", 1722814719, "system"),
    ("gpt-4.1", 1744316542, "system"),
    ("gpt-4.1-2025-04-14", 1744315746, "system"),
    ("gpt-4.1-mini", 1744318173, "system"),
    ("gpt-4.1-nano", 1744321707, "system"),
    ("gpt-5", 1754425777, "system"),
    ("gpt-5-2025-08-07", 1754425867, "system"),
    ("gpt-5-mini", 1754425928, "system"),
    ("gpt-5-nano", 1754426384, "system"),
    ("o3", 1744225308, "system"),
    ("o3-2025-04-16", 1744133301, "system"),
    ("o4-mini", 1744225351, "system"),
    ("gpt-3.5-turbo", 1677610602, "openai"),
    ("gpt-3.5-turbo-instruct", 1692901427, "system"),
    ("text-embedding-3-small", 1705948997, "system"),
    ("text-embedding-3-large", 1705953180, "system"),
    ("text-embedding-ada-002", 1671217299, "openai-internal"),
    ("omni-moderation-latest", 1731689265, "system"),
    ("whisper-1", 1677532384, "openai-internal"),
    ("gpt-4o-transcribe", 1742068463, "system"),
    ("tts-1", 1681940951, "openai-internal"),
    ("dall-e-3", 1698785189, "system"),
    ("gpt-image-1", 1745517030, "system"),
)


def served_model(requested: str) -> str | None:
    """The snapshot that serves ``requested``, or None when OpenAI would answer 404."""
    snapshot = SNAPSHOTS.get(requested)
    if snapshot is not None:
        return snapshot
    return requested if requested.startswith(_KNOWN_PREFIXES) else None


def is_reasoning(model: str) -> bool:
    """o-series and gpt-5 (not gpt-5-chat) spend hidden reasoning tokens."""
    return _REASONING.match(model) is not None


def fingerprint(model: str) -> str:
    """A stable ``system_fingerprint`` per served model, shaped like OpenAI's ``fp_<10 hex>``."""
    return f"fp_{zlib.crc32(model.encode()):08x}{len(model):02x}"
