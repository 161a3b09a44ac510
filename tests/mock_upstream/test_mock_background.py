"""Background responses: queued at once without usage, retrieved as they run and end, cancelled,
failed or incomplete by script — OpenAI's ``Response`` shape throughout — and billed in the
mock's ledger when they end, not when they are created."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import openai
import pytest

from collector.mock_upstream import MockConfig, run_in_thread

Validate = Callable[[Any, str], None]


@pytest.fixture(scope="module")
def slow() -> Iterator[str]:
    """Background responses take 0.3 s unless the request says otherwise."""
    with run_in_thread(MockConfig(background_s=0.3)) as url:
        yield url


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="sk-bg", max_retries=0, timeout=10)


def _until_ended(client: openai.OpenAI, response_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        raw = client.responses.with_raw_response.retrieve(response_id).http_response.json()
        if raw["status"] not in ("queued", "in_progress"):
            return dict(raw)
        time.sleep(0.05)
    raise AssertionError("the background response never ended")


def _requests_billed(url: str) -> int:
    """How many requests the mock's ledger booked (read through the Usage API's shape)."""
    start = int(datetime.now(UTC).replace(hour=0, minute=0, second=0).timestamp())
    page = httpx.get(f"{url}/organization/usage/completions", params={"start_time": start},
                     headers={"Authorization": "Bearer x"}, timeout=10).json()  # fmt: skip
    return sum(r["num_model_requests"] for b in page["data"] for r in b["results"])


def test_queued_then_completed_and_billed_only_when_it_ends(openapi: Validate) -> None:
    with run_in_thread(MockConfig(background_s=30)) as url:
        client = _client(url)
        raw = client.responses.with_raw_response.create(
            model="gpt-4o-mini", input="work on this later", background=True,
            metadata={"mock_delay_ms": "3000"},
        )  # fmt: skip
        created = raw.http_response.json()
        billed_while_running = _requests_billed(url)
        still_running = client.responses.retrieve(created["id"]).status in ("queued", "in_progress")
        # a starved host may let the 3 s pass before the ledger is read: only then is it billed
        assert billed_while_running == 0 or not still_running
        openapi(created, "Response")
        assert (created["status"], created.get("usage"), created["output"]) == ("queued", None, [])
        assert created["background"] is True
        ended = _until_ended(client, created["id"])
        openapi(ended, "Response")
        assert ended["status"] == "completed" and ended["output"]
        assert ended["usage"]["output_tokens"] > 0 and ended["completed_at"] is not None
        assert _requests_billed(url) == 1


def test_failed_and_incomplete_by_script(slow: str, openapi: Validate) -> None:
    client = _client(slow)
    failed = client.responses.create(model="gpt-4o-mini", input="x", background=True,
                                     metadata={"mock_outcome": "failed"})  # fmt: skip
    ended = _until_ended(client, failed.id)
    openapi(ended, "Response")
    assert (ended["status"], ended.get("usage")) == ("failed", None)
    assert ended["error"]["code"] == "server_error"
    cut = client.responses.create(model="gpt-4o-mini", input="x", background=True,
                                  metadata={"mock_outcome": "incomplete"})  # fmt: skip
    ended = _until_ended(client, cut.id)
    openapi(ended, "Response")
    assert ended["status"] == "incomplete"
    assert ended["incomplete_details"] == {"reason": "max_output_tokens"}
    assert ended["usage"]["input_tokens"] > 0


def test_cancel_stops_a_running_response_with_partial_usage(slow: str, openapi: Validate) -> None:
    client = _client(slow)
    running = client.responses.create(model="gpt-4o-mini", input="x", background=True,
                                      metadata={"mock_delay_ms": "60000"})  # fmt: skip
    assert client.responses.retrieve(running.id).status in ("queued", "in_progress")
    cancelled = client.responses.with_raw_response.cancel(running.id).http_response.json()
    openapi(cancelled, "Response")
    assert cancelled["status"] == "cancelled" and cancelled["usage"]["input_tokens"] > 0
    again = client.responses.retrieve(running.id)
    assert again.status == "cancelled"  # cancelling twice changes nothing


def test_unknown_ids_and_bad_scripts_are_precise_errors(slow: str) -> None:
    client = _client(slow)
    with pytest.raises(openai.NotFoundError, match="resp_nope"):
        client.responses.retrieve("resp_nope")
    with pytest.raises(openai.BadRequestError, match="mock_outcome"):
        client.responses.create(model="gpt-4o-mini", input="x", background=True,
                                metadata={"mock_outcome": "exploded"})  # fmt: skip


def test_a_background_stream_resumes_after_a_sequence_number(slow: str) -> None:
    client = _client(slow)
    seen: list[Any] = []
    with pytest.raises(httpx.RemoteProtocolError):  # the mock drops the connection
        for event in client.responses.create(
            model="gpt-4o-mini",
            input="x",
            background=True,
            stream=True,
            extra_headers={"x-mock-fault": "cut@3"},
        ):
            seen.append(event)  # fmt: skip
    assert [e.sequence_number for e in seen] == [0, 1, 2]
    response_id = seen[0].response.id
    resumed = list(client.responses.retrieve(response_id, stream=True, starting_after=2))
    assert [e.sequence_number for e in resumed] == list(range(3, 3 + len(resumed)))
    assert resumed[-1].type == "response.completed"
    assert resumed[-1].response.usage is not None and resumed[-1].response.id == response_id
    whole = list(client.responses.retrieve(response_id, stream=True))
    assert whole[0].type == "response.created" and len(whole) == len(resumed) + 3
    assert _until_ended(client, response_id)["status"] == "completed"
    queued = client.responses.create(model="gpt-4o-mini", input="x", background=True)
    with pytest.raises(openai.BadRequestError, match="stream=true"):
        list(client.responses.retrieve(queued.id, stream=True))


def test_a_deleted_response_is_not_found(slow: str) -> None:
    client = _client(slow)
    running = client.responses.create(model="gpt-4o-mini", input="x", background=True)
    client.responses.delete(running.id)
    with pytest.raises(openai.NotFoundError, match=running.id):
        client.responses.retrieve(running.id)
