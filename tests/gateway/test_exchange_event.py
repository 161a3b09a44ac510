"""An exchange becomes its row with every field where it belongs: ``to_event`` passes the
leading fields by position, so a field added or moved in ``UsageEvent`` must fail here."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collector.gateway._exchange import Exchange
from collector.gateway._intake import Call, Kind
from collector.keys import Attribution, KeyPrincipal
from collector.recorder import AttemptEvent, UsageEvent, usage_columns
from collector.usage import Cost, CostSource, Outcome, Usage

STARTED = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)


def _exchange(usage: Usage | None) -> Exchange:
    ex = Exchange("01JEXCHANGE0000000000000000", STARTED, 0.0, "/v1/chat/completions")
    ex.call = Call("POST", "/v1/chat/completions", b"", Kind.CHAT, b"{}", "application/json",
                   model="gpt-4o-mini", stream=True)  # fmt: skip
    ex.principal = KeyPrincipal(7, 3, "bench", "sk-ss-abc", None, {}, None, None)
    ex.attribution = Attribution("user-1", {"team": "a"}, {"trace": "t-1"})
    ex.outcome = Outcome.UPSTREAM_ERROR
    ex.http_status, ex.error_type, ex.error_message = 502, "bad_gateway", "upstream broke"
    ex.ttft_ms, ex.model_served, ex.usage = 12.5, "gpt-4o-mini-2024-07-18", usage
    ex.service_tier, ex.upstream, ex.upstream_request_id = "default", "eu", "req_9"
    ex.provider, ex.cache_hit, ex.saved_usd = "azure", True, Decimal("0.25")
    ex.cost = Cost(Decimal("0.0000115500"), CostSource.ESTIMATED, "price-1", "a note")
    ex.attempts = [AttemptEvent(1, STARTED, 3.0, "gpt-4o-mini", "eu", 502)]
    return ex


def _expected(ex: Exchange, event: UsageEvent, usage: Usage) -> UsageEvent:
    """The row as the keyword call built it before (duration taken from ``event``)."""
    return UsageEvent(
        id=ex.id, started_at=STARTED, duration_ms=event.duration_ms,
        endpoint="/v1/chat/completions", outcome="upstream_error", cost_source="estimated",
        ttft_ms=12.5, model_requested="gpt-4o-mini", model_served="gpt-4o-mini-2024-07-18",
        stream=True, project_id=3, api_key_id=7, end_user="user-1", tags={"team": "a"},
        metadata={"trace": "t-1"}, http_status=502, error_type="bad_gateway",
        error_message="upstream broke", **usage_columns(usage), cost_usd=Decimal("0.0000115500"),
        price_id="price-1", service_tier="default", upstream="eu", upstream_request_id="req_9",
        attempts=ex.attempts, cost_note="a note", cache_hit=True, saved_usd=Decimal("0.25"),
        provider="azure",
    )  # fmt: skip


def test_every_field_of_the_exchange_lands_on_its_own_column() -> None:
    names = [n for n in Usage.__dataclass_fields__ if n not in ("image_size", "image_quality")]
    counts: dict[str, Any] = {n: i + 1 for i, n in enumerate(names) if n != "audio_seconds"}
    usage = Usage(**counts, audio_seconds=Decimal("1.5"))
    ex = _exchange(usage)
    event = ex.to_event()
    assert event == _expected(ex, event, usage)
    assert event.duration_ms > 0


def test_an_exchange_without_usage_books_zeros() -> None:
    ex = _exchange(None)
    event = ex.to_event()
    assert event == _expected(ex, event, Usage())
    assert event.prompt_tokens == 0 and event.audio_seconds == Decimal(0)
