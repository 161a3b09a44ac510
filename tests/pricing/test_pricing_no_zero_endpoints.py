"""No silent $0, endpoint by endpoint: every catalog entry priced from every endpoint's own
usage object (as ``spendscope cost --usage``, ingest and the Realtime meter read it), with
built-in tool calls, in standard and batch mode.

A ``computed`` (or ``reported``) cost of 0 is allowed only for a model whose published
prices are all 0 (moderation); any other outcome is a positive amount, an ``estimated``
cost with its basis, or ``unpriced`` with the cost left empty.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.errors import PricingError
from collector.pricing import ENDPOINTS, PriceEntry, compute_cost, load_catalog, usage_from_api
from collector.usage import TOOL_CALL_FIELDS as TOOL_FIELDS
from collector.usage import CostSource, Usage

ENTRIES = load_catalog().entries
_N = st.integers(0, 3) | st.integers(0, 500_000)


@st.composite
def _api_usage(draw: st.DrawFn, endpoint: str) -> dict[str, Any]:
    """A usage object as ``endpoint`` returns it (counts consistent, some possibly 0)."""
    inp, out = draw(_N), draw(_N)
    cached = draw(st.integers(0, inp))
    audio = draw(st.integers(0, inp - cached))
    if endpoint in ("chat", "completions", "embeddings"):
        return {
            "prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": audio},
            "completion_tokens_details": {"reasoning_tokens": draw(st.integers(0, out))},
        }  # fmt: skip
    if endpoint == "transcription" and draw(st.booleans()):
        return {"type": "duration", "seconds": draw(st.integers(0, 7200))}
    if endpoint == "transcription":
        return {"type": "tokens", "input_tokens": inp, "output_tokens": out,
                "input_token_details": {"audio_tokens": audio}}  # fmt: skip
    if endpoint in ("images", "speech"):
        return {"input_tokens": inp, "output_tokens": out}
    key = draw(st.sampled_from(["input_token_details", "input_tokens_details"]))
    out_key = key.replace("input", "output")
    return {
        "input_tokens": inp, "output_tokens": out,
        key: {"cached_tokens": cached, "audio_tokens": audio},
        out_key: {"audio_tokens": draw(st.integers(0, out))},
    }  # fmt: skip


@st.composite
def _case(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    endpoint = draw(st.sampled_from(ENDPOINTS))
    return endpoint, draw(_api_usage(endpoint))


def _free(entry: PriceEntry) -> bool:
    prices = [
        entry.input, entry.cached_input, entry.output, entry.audio_input, entry.audio_output,
        entry.image_input, entry.image_output, entry.per_minute, entry.per_1m_characters,
        *entry.per_image.values(),
    ]  # fmt: skip
    published = [p for p in prices if p is not None]
    return bool(published) and not any(published)


@settings(max_examples=800, deadline=None)
@given(
    entry=st.sampled_from(ENTRIES),
    case=_case(),
    tools=st.dictionaries(
        st.sampled_from(TOOL_FIELDS),
        st.integers(0, 3),
    ),
    batch=st.booleans(),
)
def test_no_endpoint_books_a_priced_model_at_zero(
    entry: PriceEntry, case: tuple[str, dict[str, Any]], tools: dict[str, Any], batch: bool
) -> None:
    endpoint, wire = case
    usage = replace(usage_from_api(endpoint, wire), **tools)
    at = entry.effective_from + timedelta(hours=1)
    try:
        cost = compute_cost(usage, entry.model, at, batch=batch)
    except PricingError:  # audio/image details beyond the totals of this model's billing
        return
    if cost.cost_source is CostSource.UNPRICED:
        assert cost.cost_usd is None
    elif cost.cost_usd == 0:
        assert _free(entry) and cost.cost_source is CostSource.COMPUTED, (entry.id, wire, cost)
    else:
        assert cost.cost_usd is not None and cost.cost_usd > 0


def test_computer_calls_without_tokens_are_not_a_computed_zero() -> None:
    """Found by the property above: computer use has no call fee, so calls alone were $0."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    cost = compute_cost(Usage(computer_calls=2), "computer-use-preview", at)
    assert (cost.cost_usd, cost.cost_source) == (None, CostSource.UNPRICED)
