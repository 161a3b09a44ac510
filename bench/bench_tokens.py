"""Prompt-token counting throughput: small chats and a 100k-token prompt, cold and warm.

Cold = the first call in the process for that encoding, including loading and verifying the
shipped BPE file; warm = the median of repeated calls once the encoding is cached.
Run: ``.venv/bin/python bench/bench_tokens.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from collector.tokens import _encodings, count_chat_prompt_tokens

SMALL_CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a helpful assistant for a travel booking site."},
    {"role": "user", "content": "Find me a direct flight from Oslo to Lisbon next Friday."},
    {"role": "assistant", "content": "Sure - morning or evening departure?"},
]


def _large_chat(target_tokens: int, model: str) -> list[dict[str, Any]]:
    """A single user message of about ``target_tokens`` varied English and numbers."""
    sentences = [
        f"item {i}: the quick brown fox jumps over {i % 97} lazy dogs."
        for i in range(target_tokens // 12)
    ]
    text = " ".join(sentences)
    size = count_chat_prompt_tokens([{"role": "user", "content": text}], model)
    text = text[: int(len(text) * target_tokens / size)]
    return [{"role": "user", "content": text}]


def _timed(call: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    tokens = call()
    return tokens, time.perf_counter() - start


def _row(label: str, model: str, messages: list[dict[str, Any]], repeats: int) -> str:
    _encodings._cache.clear()  # force the cold path: load + sha256 + parse of the BPE file
    tokens, cold = _timed(lambda: count_chat_prompt_tokens(messages, model))
    warm = statistics.median(
        _timed(lambda: count_chat_prompt_tokens(messages, model))[1] for _ in range(repeats)
    )
    return (
        f"| {label:<18} | {model:<13} | {tokens:>7} | {cold * 1000:>9.1f} | {tokens / cold:>12,.0f}"
        f" | {warm * 1000:>9.3f} | {tokens / warm:>12,.0f} |"
    )


def main() -> None:
    """Print the throughput table."""
    print(
        "| prompt             | model         |  tokens |   cold ms |   cold tok/s |   warm ms |"
        "   warm tok/s |"
    )
    print("|" + "|".join("-" * n for n in (20, 15, 9, 11, 14, 11, 14)) + "|")
    for model in ("gpt-4o", "gpt-4"):
        print(_row("small chat", model, SMALL_CHAT, repeats=2000))
        large = _large_chat(100_000, model)
        print(_row("100k-token prompt", model, large, repeats=7))


if __name__ == "__main__":
    main()
