"""Spans name the provider that served each request and try (GenAI semantic conventions)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from collector.otel import attempt_attributes, request_attributes
from collector.requestlog import AttemptRow, RequestWithAttempts

AT = datetime(2026, 12, 6, 12, tzinfo=UTC)


def _try(no: int, provider: str, status: int) -> AttemptRow:
    return AttemptRow(no, AT, 10.0, "m", "u", status, None, None, 1, 1, Decimal(0), provider)


def _fallback(provider: str) -> RequestWithAttempts:
    """An OpenAI try that failed, then an answer from ``provider``."""
    return RequestWithAttempts(
        id="r1", started_at=AT, duration_ms=20.0, ttft_ms=None, endpoint="/v1/chat/completions",
        project="acme", key_prefix=None, model_requested="gpt-4.1", model_served="m",
        stream=False, end_user=None, tags={}, metadata={}, http_status=200, outcome="success",
        error_type=None, error_message=None, prompt_tokens=1, cached_tokens=0,
        completion_tokens=1, reasoning_tokens=0, cost_usd=Decimal(0), cost_source="computed",
        upstream="u", upstream_request_id=None, provider=provider,
        attempts=(_try(1, "openai", 503), _try(2, provider, 200)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "name"), [("anthropic", "anthropic"), ("google", "gcp.gemini"),
                           ("openai", "openai"), ("other", "openai")],
)  # fmt: skip
def test_request_and_attempt_spans_name_their_provider(provider: str, name: str) -> None:
    row = _fallback(provider)
    assert request_attributes(row, {})["gen_ai.provider.name"] == name
    failed, answered = (attempt_attributes(row, a, {}) for a in row.attempts)
    assert failed["gen_ai.provider.name"] == "openai"
    assert answered["gen_ai.provider.name"] == name
    assert answered["gen_ai.system"] == name
