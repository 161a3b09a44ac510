"""Files and batches in the mock, via the SDK, checked against OpenAI's API description."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
import pytest

from collector.mock_upstream import MockConfig, run_in_thread

Validate = Callable[[Any, str], None]


@pytest.fixture(scope="module")
def fast() -> Iterator[openai.OpenAI]:
    with run_in_thread(MockConfig(seed=3, batch_step_s=0.05)) as url:
        yield openai.OpenAI(base_url=url, api_key="sk-test", max_retries=0, timeout=30)


def _lines(url: str, bodies: list[dict[str, Any]]) -> bytes:
    return b"".join(
        orjson.dumps({"custom_id": f"c{i}", "method": "POST", "url": url, "body": b}) + b"\n"
        for i, b in enumerate(bodies)
    )


def _finished(client: openai.OpenAI, batch_id: str) -> Any:
    for _ in range(200):
        job = client.batches.retrieve(batch_id)
        if job.status in ("completed", "failed", "expired", "cancelled"):
            return job
        time.sleep(0.02)
    raise AssertionError("batch did not finish")


def _content(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in client.files.content(file_id).text.splitlines() if x]


def test_files_upload_list_retrieve_content_delete(fast: openai.OpenAI, openapi: Validate) -> None:
    data = _lines("/v1/embeddings", [{"model": "text-embedding-3-small", "input": "hi"}])
    made = fast.files.create(file=("in.jsonl", io.BytesIO(data)), purpose="batch")
    openapi(made.model_dump(mode="json", exclude_none=True), "OpenAIFile")
    assert (made.bytes, made.purpose, made.filename) == (len(data), "batch", "in.jsonl")
    listed = fast.files.with_raw_response.list().http_response.json()
    openapi(listed, "ListFilesResponse")
    assert made.id in [f["id"] for f in listed["data"]]
    assert fast.files.retrieve(made.id).id == made.id
    assert fast.files.content(made.id).content == data
    deleted = fast.files.delete(made.id)
    openapi(deleted.model_dump(mode="json"), "DeleteFileResponse")
    with pytest.raises(openai.NotFoundError):
        fast.files.retrieve(made.id)


def test_a_job_runs_its_lines_through_the_endpoints(fast: openai.OpenAI, openapi: Validate) -> None:
    bodies = [
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{i}"}]}
        for i in range(6)
    ]
    made = fast.files.create(
        file=("in.jsonl", io.BytesIO(_lines("/v1/chat/completions", bodies))), purpose="batch"
    )
    job = fast.batches.create(
        input_file_id=made.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"mock_fail_every": "3"},
    )
    assert job.status == "validating"
    openapi(fast.batches.with_raw_response.retrieve(job.id).http_response.json(), "Batch")
    done = _finished(fast, job.id)
    openapi(fast.batches.with_raw_response.retrieve(job.id).http_response.json(), "Batch")
    openapi(fast.batches.with_raw_response.list().http_response.json(), "ListBatchesResponse")
    assert done.status == "completed" and done.request_counts is not None
    assert (
        done.request_counts.total,
        done.request_counts.completed,
        done.request_counts.failed,
    ) == (6, 4, 2)
    assert done.in_progress_at and done.finalizing_at and done.completed_at
    ok = _content(fast, str(done.output_file_id))
    assert [x["custom_id"] for x in ok] == ["c0", "c1", "c3", "c4"]
    for line in ok:
        assert line["response"]["status_code"] == 200 and line["error"] is None
        openapi(line["response"]["body"], "CreateChatCompletionResponse")
        assert line["response"]["body"]["usage"]["prompt_tokens"] > 0
    failed = _content(fast, str(done.error_file_id))
    assert [x["custom_id"] for x in failed] == ["c2", "c5"]
    assert all(x["response"]["status_code"] == 400 for x in failed)


def test_expired_and_cancelled_jobs_keep_part_of_their_lines(fast: openai.OpenAI) -> None:
    bodies = [{"model": "text-embedding-3-small", "input": f"t{i}"} for i in range(4)]
    made = fast.files.create(
        file=("in.jsonl", io.BytesIO(_lines("/v1/embeddings", bodies))), purpose="batch"
    )
    expired = fast.batches.create(
        input_file_id=made.id,
        endpoint="/v1/embeddings",
        completion_window="24h",
        metadata={"mock_outcome": "expired"},
    )
    job = _finished(fast, expired.id)
    assert job.status == "expired" and job.expired_at
    assert [x["custom_id"] for x in _content(fast, str(job.output_file_id))] == ["c0", "c1"]
    late = _content(fast, str(job.error_file_id))
    assert [(x["custom_id"], x["error"]["code"]) for x in late] == [
        ("c2", "batch_expired"),
        ("c3", "batch_expired"),
    ]
    cancel = fast.batches.create(
        input_file_id=made.id,
        endpoint="/v1/embeddings",
        completion_window="24h",
        metadata={"mock_complete_lines": "1"},
    )
    assert fast.batches.cancel(cancel.id).status == "cancelling"
    job = _finished(fast, cancel.id)
    assert job.status == "cancelled" and job.request_counts is not None
    assert (job.request_counts.completed, job.request_counts.failed) == (1, 3)
    with pytest.raises(openai.ConflictError):
        fast.batches.cancel(cancel.id)


def test_bad_input(fast: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="line 2 is not a JSON object"):
        fast.files.create(
            file=(
                "x.jsonl",
                io.BytesIO(
                    b'{"custom_id": "a", "method": "POST", '
                    b'"url": "/v1/embeddings", "body": {}}\n[1, 2]\n'
                ),
            ),
            purpose="batch",
        )
    with pytest.raises(openai.BadRequestError, match="empty"):
        fast.files.create(file=("x.jsonl", io.BytesIO(b"\n")), purpose="batch")
    with pytest.raises(openai.NotFoundError, match="No batch found"):
        fast.batches.retrieve("batch_nope")
    with pytest.raises(openai.BadRequestError, match="input_file_id"):
        fast.batches.create(
            input_file_id="file-nope", endpoint="/v1/embeddings", completion_window="24h"
        )
