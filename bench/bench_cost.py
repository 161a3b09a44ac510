"""How many exact cost computations per second one process does (best of several runs).

The tool-call and audio-part rows price the same chat usage plus built-in tool calls, or a
Realtime usage with audio and cached audio tokens; the gpt-5.4 rows price a model with a
long-context tier and a regional uplift (below the threshold, above it, and from a regional
endpoint); the last column compares each row with the plain-token path (first row). Run:
``.venv/bin/python bench/bench_cost.py [--iterations N]``. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from collector.pricing import PriceOverride, compute_cost, cost_breakdown, load_catalog
from collector.usage import Usage

AT = datetime(2025, 9, 1, tzinfo=UTC)
LATER = datetime(2026, 1, 1, tzinfo=UTC)  # tool prices and gpt-realtime are in force
START = datetime(2025, 1, 1, tzinfo=UTC)
CHAT = Usage(prompt_tokens=1234, cached_tokens=512, completion_tokens=321, reasoning_tokens=100)
TOOLS = Usage(
    prompt_tokens=1234, cached_tokens=512, completion_tokens=321, reasoning_tokens=100,
    web_search_calls=2, file_search_calls=1, code_interpreter_sessions=1,
)  # fmt: skip
LONG = Usage(prompt_tokens=300_000, cached_tokens=50_000, completion_tokens=10_000)
GPT54_AT = datetime(2026, 6, 1, tzinfo=UTC)  # gpt-5.4 is priced from 2026-03-05
REALTIME = Usage(
    prompt_tokens=1234, cached_tokens=512, audio_prompt_tokens=800, cached_audio_tokens=300,
    completion_tokens=321, audio_completion_tokens=200,
)  # fmt: skip


def _overrides() -> list[PriceOverride]:
    """A realistic table: 20 unrelated model deals, one for gpt-4o, an org-wide discount."""
    rows = [
        PriceOverride(f"custom-{i}", START, input_per_1m=Decimal(1), output_per_1m=Decimal(2))
        for i in range(20)
    ]
    rows.append(
        PriceOverride("gpt-4o", START, input_per_1m=Decimal("2.2"), output_per_1m=Decimal(9))
    )
    rows.append(PriceOverride("*", START - timedelta(days=1), discount_pct=Decimal("7.5")))
    return rows


def _scenarios() -> list[tuple[str, Callable[[], object]]]:
    overrides = _overrides()
    audio = Usage(audio_seconds=Decimal("42.5"))
    return [
        ("plain (gpt-4o, cached)", lambda: compute_cost(CHAT, "gpt-4o", AT)),
        ("plain (gpt-5, cached)", lambda: compute_cost(CHAT, "gpt-5", LATER)),
        ("tool calls (gpt-5, 4)", lambda: compute_cost(TOOLS, "gpt-5", LATER)),
        ("audio parts (realtime)", lambda: compute_cost(REALTIME, "gpt-realtime", LATER)),
        ("breakdown (gpt-5, tools)", lambda: cost_breakdown(TOOLS, "gpt-5", LATER)),
        ("gpt-5.4 (tiered, short)", lambda: compute_cost(CHAT, "gpt-5.4", GPT54_AT)),
        ("gpt-5.4 long context", lambda: compute_cost(LONG, "gpt-5.4", GPT54_AT)),
        ("gpt-5.4 regional", lambda: compute_cost(CHAT, "gpt-5.4", GPT54_AT, regional=True)),
        ("dated snapshot", lambda: compute_cost(CHAT, "gpt-4o-2024-05-13", AT)),
        ("priority tier (gpt-5)", lambda: compute_cost(CHAT, "gpt-5", AT, service_tier="priority")),
        ("batch (gpt-4.1-mini)", lambda: compute_cost(CHAT, "gpt-4.1-mini", AT, batch=True)),
        ("fine-tuned (pattern)", lambda: compute_cost(CHAT, "ft:gpt-4.1-2025-04-14:a::b", AT)),
        ("whisper-1 (per minute)", lambda: compute_cost(audio, "whisper-1", AT)),
        ("with 22 overrides", lambda: compute_cost(CHAT, "gpt-4o", AT, overrides=overrides)),
        ("unknown model", lambda: compute_cost(CHAT, "some-unknown-model", AT)),
    ]


def _time(call: Callable[[], object], iterations: int) -> float:
    start = time.perf_counter()
    for _ in range(iterations):
        call()
    return time.perf_counter() - start


def _rates(
    scenarios: list[tuple[str, Callable[[], object]]], iterations: int, repeats: int
) -> dict[str, float]:
    """Best of ``repeats`` per scenario, the scenarios taking turns (a busy machine slows
    every row alike, not the rows that happened to run during the busy spell)."""
    best = {name: float("inf") for name, _ in scenarios}
    for _ in range(repeats):
        for name, call in scenarios:
            best[name] = min(best[name], _time(call, iterations))
    return {name: iterations / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    logging.getLogger("collector.pricing").setLevel(logging.ERROR)  # the unknown-model warning
    load_catalog()  # parse once, outside the timings
    print(f"{'scenario':<26} {'costs/s':>12} {'µs/cost':>9} {'vs plain':>9}")
    print("-" * 59)
    rates = _rates(_scenarios(), args.iterations, args.repeats)
    plain = next(iter(rates.values()))
    for name, rate in rates.items():
        slower = (plain / rate - 1) * 100
        print(f"{name:<26} {rate:>12,.0f} {1e6 / rate:>9.2f} {slower:>+8.0f}%")


if __name__ == "__main__":
    main()
