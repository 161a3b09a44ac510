"""A Batch API output line that wrote to the prompt cache keeps and prices its writes."""

from __future__ import annotations

from decimal import Decimal

from collector.gateway._batch_lines import line_event
from tests.gateway.test_batch_lines import CTX, chat_line


def test_a_line_that_wrote_to_the_prompt_cache_keeps_and_prices_its_writes() -> None:
    """gpt-6-sol batch: input $1, cached $0.10, cache write $1.25, output $5 per 1M."""
    line = chat_line("w", model="gpt-6-sol")
    line["response"]["body"]["created"] = 1_796_000_000  # 2026-11-29, after gpt-6-sol's launch
    line["response"]["body"]["usage"]["prompt_tokens_details"]["cache_write_tokens"] = 900
    e = line_event(line, "output:0", CTX, CTX.call)
    assert (e.prompt_tokens, e.cached_tokens, e.cache_write_tokens) == (2000, 1024, 900)
    # 76 × 1 + 1,024 × 0.10 + 900 × 1.25 + 300 × 5 = 2,803.4 per 1M
    assert (e.cost_usd, e.cost_source) == (Decimal("0.0028034"), "computed")
