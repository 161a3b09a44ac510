"""Helpers for background-response tests: starting one through the gateway, reading its rows."""

from __future__ import annotations

from typing import Any

import openai
from sqlalchemy import select

from collector.db import Request, session_scope
from collector.pricing import compute_cost
from collector.usage import Usage
from tests.gateway._batches import eventually, recorded
from tests.gateway._support import Gateway

MODEL = "gpt-4o-mini"


def start(client: openai.OpenAI, delay_ms: int = 200, **metadata: str) -> str:
    """A background response the mock ends after ``delay_ms``; its id."""
    created = client.responses.create(
        model=MODEL, input="summarise the quarter", background=True,
        metadata={"mock_delay_ms": str(delay_ms), **metadata},
    )  # fmt: skip
    assert created.status in ("queued", "in_progress") and created.usage is None
    return created.id


def finished(gw: Gateway, response_id: str) -> Request:
    """Wait until the poller recorded the response; its one usage row."""
    eventually(lambda: recorded(gw, response_id))
    rows = usage_rows(gw, response_id)
    assert len(rows) == 1, [r.id for r in rows]
    return rows[0]


def usage_rows(gw: Gateway, response_id: str) -> list[Request]:
    gw.server.flush()
    with session_scope(gw.engine) as session:
        query = select(Request).where(Request.batch_id == response_id)
        return list(session.scalars(query))


def upstream_view(client: openai.OpenAI, response_id: str) -> dict[str, Any]:
    """The response as upstream reports it (read through the gateway)."""
    raw = client.responses.with_raw_response.retrieve(response_id).http_response.json()
    return dict(raw)


def exact_cost(row: Request, usage: dict[str, Any]) -> Any:
    """What the catalog says the usage costs at the row's time, model and tier."""
    want = compute_cost(
        Usage(
            prompt_tokens=usage["input_tokens"],
            cached_tokens=usage["input_tokens_details"]["cached_tokens"],
            completion_tokens=usage["output_tokens"],
            reasoning_tokens=usage["output_tokens_details"]["reasoning_tokens"],
        ),
        str(row.model_served), row.started_at, service_tier=row.service_tier,
    )  # fmt: skip
    assert want.cost_usd is not None and want.cost_usd > 0
    return want.cost_usd
