"""One ended background response → one priced row (pure): exact cost at the model's normal rates
and the response's tier, the job's attribution, an id that depends only on the response."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from collector.batches import RESPONSE, JobRef
from collector.gateway._background import response_event
from collector.pricing import compute_cost
from collector.usage import Usage

CREATED = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
JOB = JobRef(
    "resp_abc", "default", "/v1/responses", CREATED, "queued", 7, 9, "ana", {"team": "ml"},
    RESPONSE, "gpt-4o-mini", "01JREQUEST",
)  # fmt: skip
NOW = CREATED + timedelta(minutes=3)


def _wire(status: str = "completed", **extra: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "id": "resp_abc", "object": "response", "status": status,
        "model": "gpt-4o-mini-2024-07-18", "service_tier": "default", "output": [],
        "completed_at": int((CREATED + timedelta(seconds=90)).timestamp()),
        "usage": {"input_tokens": 1200, "input_tokens_details": {"cached_tokens": 256},
                  "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": 1500},
    }  # fmt: skip
    wire.update(extra)
    return wire


def test_a_completed_response_is_priced_exactly_with_the_jobs_attribution() -> None:
    event = response_event(JOB, _wire(), (), NOW)
    usage = Usage(prompt_tokens=1200, cached_tokens=256, completion_tokens=300)
    want = compute_cost(usage, "gpt-4o-mini-2024-07-18", CREATED, service_tier="default")
    assert want.cost_usd is not None and want.cost_usd > 0
    assert (event.cost_usd, event.cost_source) == (want.cost_usd, "computed")
    assert (event.prompt_tokens, event.cached_tokens, event.completion_tokens) == (1200, 256, 300)
    assert (event.project_id, event.api_key_id, event.end_user, event.tags) == (
        7, 9, "ana", {"team": "ml"},
    )  # fmt: skip
    assert (event.endpoint, event.batch, event.batch_id) == ("/v1/responses", False, "resp_abc")
    assert event.metadata == {"background_request": "01JREQUEST"}
    assert event.duration_ms == 90_000.0 and event.outcome == "success"
    assert event.id == response_event(JOB, _wire(), (), NOW + timedelta(hours=1)).id


def test_the_responses_tier_prices_it() -> None:
    flex = response_event(JOB, _wire(service_tier="flex", model="o3-2025-04-16"), (), NOW)
    standard = response_event(JOB, _wire(model="o3-2025-04-16"), (), NOW)
    assert flex.service_tier == "flex" and flex.cost_usd is not None
    assert standard.cost_usd is not None and flex.cost_usd < standard.cost_usd


def test_failed_cancelled_and_unpriceable_responses() -> None:
    failed = _wire("failed", error={"code": "server_error", "message": "boom"})
    del failed["usage"]
    event = response_event(JOB, failed, (), NOW)
    assert (event.outcome, event.cost_usd, event.cost_source) == (
        "upstream_error", Decimal(0), "computed",
    )  # fmt: skip
    assert (event.error_type, event.error_message) == ("server_error", "boom")
    cancelled = response_event(JOB, _wire("cancelled"), (), NOW)
    assert cancelled.outcome == "cancelled" and cancelled.cost_usd and cancelled.cost_usd > 0
    silent = _wire()
    del silent["usage"]
    assert response_event(JOB, silent, (), NOW).cost_source == "unpriced"
    unknown = response_event(JOB, _wire(model="homebrew-llm"), (), NOW)
    assert unknown.cost_usd is not None  # priced by the model asked for (gpt-4o-mini)
    nameless = replace(JOB, model=None)
    lost = response_event(nameless, _wire(model="homebrew-llm"), (), NOW)
    assert (lost.cost_usd, lost.cost_source) == (None, "unpriced")
