"""Helpers for Batch API tests: a fast-clock mock upstream, JSONL inputs, waiting for jobs."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import orjson
from sqlalchemy import func, select

from collector.db import BatchJob, Request, session_scope
from tests.gateway._support import Gateway

FAST = {"batch_poll_interval_s": 0.05, "batch_lease_s": 5.0}


def chat_lines(n: int, model: str = "gpt-4o-mini") -> bytes:
    """``n`` chat completion lines of a batch input file."""
    out = io.BytesIO()
    for i in range(n):
        body = {"model": model, "messages": [{"role": "user", "content": f"line {i}"}]}
        row = {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
               "body": body}  # fmt: skip
        out.write(orjson.dumps(row) + b"\n")
    return out.getvalue()


def start_job(client: openai.OpenAI, data: bytes, **metadata: str) -> str:
    uploaded = client.files.create(file=("input.jsonl", io.BytesIO(data)), purpose="batch")
    job = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata=metadata or None,
    )
    return job.id


def eventually(check: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def job_row(gw: Gateway, batch_id: str) -> BatchJob | None:
    with session_scope(gw.engine) as session:
        return session.get(BatchJob, batch_id)


def recorded(gw: Gateway, batch_id: str) -> bool:
    row = job_row(gw, batch_id)
    return row is not None and row.recorded_at is not None


def line_rows(gw: Gateway, batch_id: str) -> list[Request]:
    gw.server.flush()
    with session_scope(gw.engine) as session:
        query = select(Request).where(Request.batch_id == batch_id).order_by(Request.id)
        return list(session.scalars(query))


def count_lines(gw: Gateway, batch_id: str) -> int:
    with session_scope(gw.engine) as session:
        query = select(func.count()).select_from(Request).where(Request.batch_id == batch_id)
        return int(session.scalar(query) or 0)


def by_custom_id(rows: list[Request]) -> dict[str, Request]:
    return {str(r.metadata_["batch_custom_id"]): r for r in rows}


def file_lines(client: openai.OpenAI, file_id: str) -> Iterator[dict[str, Any]]:
    for line in client.files.content(file_id).text.splitlines():
        if line.strip():
            yield orjson.loads(line)
