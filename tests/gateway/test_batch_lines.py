"""One Batch API output line → one priced event (pure): ids, outcomes, batch-rate prices."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from collector.batches import JobRef
from collector.gateway._batch_lines import LineContext, line_event
from collector.pricing import compute_cost
from collector.recorder import UsageEvent
from collector.usage import Usage

CREATED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
JOB = JobRef(
    "batch_1", "default", "/v1/chat/completions", CREATED, "completed", 3, 4, "ana", {"team": "ml"}
)
CTX = LineContext(JOB, datetime(2026, 11, 1, 10, 0, tzinfo=UTC))


def event(line: Any, place: str = "output:0", ctx: LineContext = CTX) -> UsageEvent:
    return line_event(line, place, ctx, ctx.call)


def chat_line(custom_id: str | None, model: str = "gpt-4o-mini-2024-07-18") -> dict[str, Any]:
    usage = {
        "prompt_tokens": 2000,
        "completion_tokens": 300,
        "total_tokens": 2300,
        "prompt_tokens_details": {"cached_tokens": 1024},
    }
    body = {"object": "chat.completion", "model": model, "created": 1_793_523_600, "usage": usage}
    return {
        "id": "batch_req_1",
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": "req_9", "body": body},
        "error": None,
    }


def test_a_line_is_priced_at_batch_rates_and_attributed_to_the_job() -> None:
    e = event(chat_line("a"))
    usage = Usage(prompt_tokens=2000, completion_tokens=300, cached_tokens=1024)
    at = datetime.fromtimestamp(1_793_523_600, UTC)
    want = compute_cost(usage, "gpt-4o-mini-2024-07-18", at, batch=True)
    assert want.cost_usd is not None
    assert (e.cost_usd, e.cost_source, e.price_id) == (want.cost_usd, "computed", want.price_id)
    assert e.cost_usd < compute_cost(usage, "gpt-4o-mini-2024-07-18", at).cost_usd  # type: ignore[operator]
    assert (e.batch, e.batch_id, e.started_at, e.outcome) == (True, "batch_1", at, "success")
    assert (e.project_id, e.api_key_id, e.end_user, e.tags) == (3, 4, "ana", {"team": "ml"})
    assert (e.prompt_tokens, e.cached_tokens, e.completion_tokens) == (2000, 1024, 300)
    assert e.metadata == {"batch_custom_id": "a"} and e.upstream_request_id == "req_9"
    assert len(e.attempts) == 1 and e.attempts[0].cost_usd == e.cost_usd


def test_ids_are_derived_from_the_job_and_the_line() -> None:
    assert event(chat_line("a")).id == event(chat_line("a"), "error:7").id
    assert event(chat_line("a")).id != event(chat_line("b")).id
    other = LineContext(
        JobRef(
            "batch_2",
            *[
                getattr(JOB, f)
                for f in (
                    "upstream",
                    "endpoint",
                    "created_at",
                    "status",
                    "project_id",
                    "api_key_id",
                    "end_user",
                    "tags",
                )
            ],
        ),
        CTX.ended_at,
    )
    assert event(chat_line("a"), ctx=other).id != event(chat_line("a")).id
    unnamed = event(chat_line(None), "output:5")
    assert unnamed.id == event(chat_line(None), "output:5").id != event(chat_line(None)).id
    assert unnamed.metadata == {"batch_line": "output:5"}
    assert len(unnamed.id) == 26 and unnamed.id[:10] == event(chat_line("z")).id[:10]


def test_an_unknown_model_is_unpriced_never_zero() -> None:
    e = event(chat_line("a", model="mystery-model-9"))
    assert (e.cost_usd, e.cost_source, e.outcome) == (None, "unpriced", "success")


def test_failed_and_unrun_lines() -> None:
    error = {"error": {"message": "bad", "type": "invalid_request_error", "code": None}}
    failed = event({"custom_id": "f", "response": {"status_code": 400, "body": error}})
    assert (failed.outcome, failed.error_type, failed.error_message) == (
        "client_error",
        "invalid_request_error",
        "bad",
    )
    assert (failed.cost_usd, failed.cost_source, failed.http_status) == (
        Decimal(0),
        "computed",
        400,
    )
    expired = event(
        {"custom_id": "x", "response": None, "error": {"code": "batch_expired", "message": "late"}}
    )
    assert (expired.outcome, expired.error_type, expired.started_at) == (
        "timeout",
        "batch_expired",
        CTX.ended_at,
    )
    cancelled = event({"custom_id": "y", "error": {"code": "batch_cancelled"}})
    assert cancelled.outcome == "cancelled"
    server = event({"custom_id": "s", "response": {"status_code": 500, "body": {}}})
    assert (server.outcome, server.error_type) == ("upstream_error", "http_500")


def test_a_line_that_is_not_an_object_is_still_one_failed_row() -> None:
    for junk in (None, [1, 2], "text", {"response": "nope"}):
        e = event(junk, "output:3")
        assert (e.outcome, e.error_type, e.cost_usd) == (
            "upstream_error",
            "batch_line_failed",
            Decimal(0),
        )
        assert e.metadata == {"batch_line": "output:3"}
