"""Tries the upstream may have billed without answering: a timeout after the request went
out, or a 2xx body cut while read, are priced as estimates (prompt counted, no output) and
added to the request's cost; a try that never reached the upstream stays at $0."""

from __future__ import annotations

from decimal import Decimal

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from collector.db.models import Attempt
from collector.gateway._unanswered import may_be_billed, price_unanswered, with_unanswered
from collector.pricing import compute_cost
from collector.recorder import AttemptEvent
from collector.usage import Cost, CostSource, Usage
from tests.gateway._support import GatewayFactory, scenario
from tests.support.wait import wait_until

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Summarise the quarterly spend report in three bullet points."}
]


def _prompt_only(attempt: Attempt) -> Decimal:
    assert attempt.model is not None and attempt.started_at is not None
    cost = compute_cost(
        Usage(prompt_tokens=attempt.prompt_tokens), attempt.model, attempt.started_at,
        estimated=True,
    )  # fmt: skip
    assert cost.cost_usd is not None and cost.cost_usd > 0
    return cost.cost_usd


@pytest.mark.parametrize("fault", ["timeout@3", "cut"])
def test_a_retried_try_the_upstream_served_is_added_as_an_estimate(
    make_gateway: GatewayFactory, fault: str
) -> None:
    gw = make_gateway(read_timeout_s=0.5)
    completion = gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": f"{fault},ok"},
    )
    assert completion.usage is not None
    row = gw.only_request()
    first, second = gw.attempts(row.id)
    assert first.error_type is not None and second.http_status == 200
    assert first.prompt_tokens > 0 and first.completion_tokens == 0
    assert first.cost_usd == _prompt_only(first)
    answer = compute_cost(
        Usage(prompt_tokens=completion.usage.prompt_tokens,
              completion_tokens=completion.usage.completion_tokens),
        "gpt-4o-mini-2024-07-18", row.started_at,
    )  # fmt: skip
    assert second.cost_usd == answer.cost_usd and second.cost_usd is not None
    assert first.cost_usd is not None
    assert (row.outcome, row.cost_source) == ("success", "estimated")
    assert row.cost_usd == first.cost_usd + second.cost_usd
    assert row.cost_note is not None and "1 unanswered upstream try" in row.cost_note
    # the request's tokens stay the answer's usage
    assert row.prompt_tokens == completion.usage.prompt_tokens


def test_timeouts_exhausted_are_booked_as_estimated_spend_not_zero(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway(max_attempts=2, read_timeout_s=0.5)
    with pytest.raises(openai.InternalServerError):
        gw.client().chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            extra_headers={**scenario(), "x-mock-fault": "timeout@3"},
        )
    row = gw.only_request()
    tries = gw.attempts(row.id)
    assert [a.error_type for a in tries] == ["timeout", "timeout"]
    assert (row.outcome, row.cost_source) == ("timeout", "estimated")
    assert row.cost_usd == sum(_prompt_only(a) for a in tries) > 0
    assert row.cost_note is not None and "2 unanswered upstream tries" in row.cost_note


@pytest.mark.parametrize("fault", ["reset", "502"])
def test_a_try_never_served_stays_free(make_gateway: GatewayFactory, fault: str) -> None:
    gw = make_gateway(read_timeout_s=0.5)
    gw.client().chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        extra_headers={**scenario(), "x-mock-fault": f"{fault},ok"},
    )
    row = gw.only_request()
    first, second = gw.attempts(row.id)
    assert first.cost_usd is None and first.prompt_tokens == 0
    assert (row.cost_source, row.cost_usd) == ("computed", second.cost_usd)
    assert row.cost_note is None


def _try(status: int | None = None, model: str | None = "gpt-4o-mini") -> AttemptEvent:
    from datetime import UTC, datetime

    return AttemptEvent(attempt_no=1, started_at=datetime.now(UTC), duration_ms=1.0,
                        model=model, http_status=status)  # fmt: skip


def test_which_failures_may_have_been_billed() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 1, False, True, None, None, None),
        OSError(111, "refused"),
    )
    assert not may_be_billed(_try(), refused)
    assert not may_be_billed(_try(), aiohttp.ConnectionTimeoutError("connect"))
    assert not may_be_billed(_try(), aiohttp.ServerDisconnectedError())
    assert may_be_billed(_try(), aiohttp.SocketTimeoutError("read"))
    assert may_be_billed(_try(), TimeoutError())
    assert may_be_billed(_try(200), aiohttp.ClientPayloadError("cut"))
    assert not may_be_billed(_try(500), aiohttp.ClientPayloadError("cut"))


def test_unpriced_models_and_uncounted_prompts_add_nothing() -> None:
    unknown = _try(model="model-nobody-prices")
    assert price_unanswered([unknown], 100, []) == 0 and unknown.cost_usd is None
    assert price_unanswered([_try()], 0, []) == 0
    exact = Cost(Decimal("0.01"), CostSource.COMPUTED, "p")
    assert with_unanswered(exact, Decimal(0), 1) is exact
    unpriced = Cost(None, CostSource.UNPRICED)
    assert with_unanswered(unpriced, Decimal("0.5"), 1) is unpriced
    added = with_unanswered(exact, Decimal("0.002"), 1)
    assert (added.cost_usd, added.cost_source) == (Decimal("0.012"), CostSource.ESTIMATED)


def test_a_client_leaving_while_its_json_request_is_in_flight_books_the_prompt(
    make_gateway: GatewayFactory,
) -> None:
    """The gateway drops the upstream request when its client leaves; the upstream may still
    serve and bill it, so the try is priced as an estimate, not booked at $0."""
    gw = make_gateway()
    client = gw.client(timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES,
            extra_headers={**scenario(), "x-mock-latency-ms": "5000"},
        )  # fmt: skip
    client.close()
    wait_until(lambda: len(gw.requests()) == 1, 20, "the cancelled request's row")
    row = gw.only_request()
    (attempt,) = gw.attempts(row.id)
    assert (row.outcome, row.cost_source) == ("cancelled", "estimated")
    assert attempt.error_type == "cancelled" and attempt.http_status is None
    assert row.cost_usd == attempt.cost_usd == _prompt_only(attempt)
    assert row.cost_note is not None and "1 unanswered upstream try" in row.cost_note
