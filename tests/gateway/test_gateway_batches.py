"""Batch API jobs through the gateway: each line of a job becomes a priced request row at
batch rates, attributed to the creating key; files stream; jobs stay with their project."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import openai
import pytest
from sqlalchemy import text, update

from collector.db import BatchJob, session_scope
from collector.mock_upstream import MockConfig, run_in_thread
from collector.pricing import compute_cost
from collector.usage import Usage
from tests.gateway._batches import (
    FAST,
    by_custom_id,
    chat_lines,
    eventually,
    file_lines,
    job_row,
    line_rows,
    recorded,
    start_job,
)
from tests.gateway._support import UPSTREAM_KEY, GatewayFactory


@pytest.fixture(scope="module")
def batch_mock() -> Iterator[str]:
    """A mock upstream whose jobs take 0.1 s per state."""
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, batch_step_s=0.1)) as url:
        yield url


def test_every_line_is_a_priced_row_at_batch_rates_with_the_jobs_attribution(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client(gw.key(project="research", user="ana", tags={"team": "ml"}))
    batch_id = start_job(client, chat_lines(40), mock_fail_every="10")
    eventually(lambda: recorded(gw, batch_id))
    job = client.batches.retrieve(batch_id)
    assert job.status == "completed"
    assert job.request_counts is not None and job.request_counts.failed == 4
    rows = line_rows(gw, batch_id)
    assert len(rows) == 40
    lines = {r["custom_id"]: r for r in file_lines(client, str(job.output_file_id))}
    assert len(lines) == 36
    found = by_custom_id(rows)
    for custom_id, line in lines.items():
        row, body = found[custom_id], line["response"]["body"]
        usage = body["usage"]
        assert (row.outcome, row.batch, row.cost_source) == ("success", True, "computed")
        assert (row.prompt_tokens, row.completion_tokens) == (
            usage["prompt_tokens"], usage["completion_tokens"],
        )  # fmt: skip
        at = datetime.fromtimestamp(body["created"], UTC)
        want = compute_cost(
            Usage(prompt_tokens=usage["prompt_tokens"],
                  completion_tokens=usage["completion_tokens"]),
            body["model"], at, batch=True,
        )  # fmt: skip
        full = compute_cost(
            Usage(prompt_tokens=usage["prompt_tokens"],
                  completion_tokens=usage["completion_tokens"]),
            body["model"], at,
        )  # fmt: skip
        assert row.cost_usd == want.cost_usd and want.cost_usd is not None
        assert full.cost_usd is not None and want.cost_usd < full.cost_usd
        assert (row.end_user, row.tags) == ("ana", {"team": "ml"})
        assert row.upstream_request_id == line["response"]["request_id"]
    failed = [r for r in rows if r.outcome != "success"]
    assert len(failed) == 4
    assert {r.metadata_["batch_custom_id"] for r in failed} == {f"req-{i}" for i in (9, 19, 29, 39)}
    assert all(r.http_status == 400 and r.cost_usd == Decimal(0) for r in failed)
    assert all(r.error_message == "scripted line failure" for r in failed)
    stored = job_row(gw, batch_id)
    assert stored is not None and stored.lines_recorded == 40 and stored.status == "completed"


def test_the_job_calls_themselves_are_recorded_unpriced_with_a_note(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    batch_id = start_job(client, chat_lines(3))
    client.batches.retrieve(batch_id)
    rows = [r for r in gw.requests() if r.batch_id is None]
    assert [r.endpoint for r in rows] == ["/v1/files", "/v1/batches", f"/v1/batches/{batch_id}"]
    for row in rows:
        assert (row.outcome, row.cost_source, row.cost_usd) == ("success", "unpriced", None)
        assert row.cost_note is not None and "metered as their own requests" in row.cost_note


def test_another_projects_job_is_not_found(make_gateway: GatewayFactory, batch_mock: str) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    mine, theirs = gw.client(gw.key(project="a")), gw.client(gw.key(project="b"))
    batch_id = start_job(mine, chat_lines(2))
    with pytest.raises(openai.NotFoundError) as caught:
        theirs.batches.retrieve(batch_id)
    assert caught.value.body == {
        "message": f"No batch found with id '{batch_id}'.", "type": "invalid_request_error",
        "param": "batch_id", "code": "not_found",
    }  # fmt: skip
    with pytest.raises(openai.NotFoundError):
        theirs.batches.cancel(batch_id)
    with pytest.raises(openai.NotFoundError):
        mine.batches.retrieve("batch_unknown")
    assert [b.id for b in theirs.batches.list()] == []
    assert [b.id for b in mine.batches.list()] == [batch_id]


def test_an_expired_job_records_what_completed_and_the_rest_as_timeouts(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    batch_id = start_job(client, chat_lines(10), mock_outcome="expired", mock_complete_lines="6")
    eventually(lambda: recorded(gw, batch_id))
    rows = by_custom_id(line_rows(gw, batch_id))
    assert len(rows) == 10
    done = [rows[f"req-{i}"] for i in range(6)]
    assert all(r.outcome == "success" and r.cost_usd and r.cost_usd > 0 for r in done)
    rest = [rows[f"req-{i}"] for i in range(6, 10)]
    assert {(r.outcome, r.error_type, r.cost_usd) for r in rest} == {
        ("timeout", "batch_expired", Decimal(0))
    }
    stored = job_row(gw, batch_id)
    assert stored is not None and stored.status == "expired" and stored.completed_at is not None


def test_a_cancelled_job_records_what_completed(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    batch_id = start_job(client, chat_lines(8), mock_complete_lines="3")
    assert client.batches.cancel(batch_id).status == "cancelling"
    eventually(lambda: recorded(gw, batch_id))
    rows = by_custom_id(line_rows(gw, batch_id))
    assert sorted(r.outcome for r in rows.values()) == ["cancelled"] * 5 + ["success"] * 3
    assert all(rows[f"req-{i}"].outcome == "success" for i in range(3))
    assert rows["req-7"].error_type == "batch_cancelled"
    stored = job_row(gw, batch_id)
    assert stored is not None and stored.status == "cancelled" and stored.lines_recorded == 8


def test_a_job_that_fails_validation_records_no_lines(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    batch_id = start_job(client, chat_lines(4), mock_outcome="failed")
    eventually(lambda: recorded(gw, batch_id))
    assert line_rows(gw, batch_id) == []
    stored = job_row(gw, batch_id)
    assert stored is not None and (stored.status, stored.lines_recorded) == ("failed", 0)


def test_bad_input_is_answered_precisely(make_gateway: GatewayFactory, batch_mock: str) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("notes.jsonl", io.BytesIO(b"just text\n")), purpose="batch")
    assert caught.value.code == "invalid_file_format"
    assert "line 1 is not a JSON object" in caught.value.message
    with pytest.raises(openai.NotFoundError) as bad_file:
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions",
                              completion_window="24h")  # fmt: skip
    assert bad_file.value.body == {
        "message": "No such File object: file-nope", "type": "invalid_request_error",
        "param": "input_file_id", "code": "not_found",
    }  # fmt: skip
    with pytest.raises(openai.NotFoundError) as unknown:
        client.batches.retrieve("batch_does_not_exist")
    assert unknown.value.body == {
        "message": "No batch found with id 'batch_does_not_exist'.",
        "type": "invalid_request_error", "param": "batch_id", "code": "not_found",
    }  # fmt: skip
    assert job_row(gw, "batch_does_not_exist") is None


def test_a_restart_in_the_middle_of_a_job_still_records_every_line(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    first = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = first.client()
    batch_id = start_job(client, chat_lines(30))
    first.server.stop()  # the job is still validating: nothing recorded yet
    stored = job_row(first, batch_id)
    assert stored is not None and stored.recorded_at is None and stored.lease_owner is None
    second = make_gateway(upstream_base_url=batch_mock, **FAST)
    eventually(lambda: recorded(second, batch_id))
    assert len(line_rows(second, batch_id)) == 30


def test_two_gateways_polling_one_job_record_each_line_once(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    one = make_gateway(upstream_base_url=batch_mock, **FAST)
    two = make_gateway(upstream_base_url=batch_mock, **FAST)
    batch_id = start_job(one.client(), chat_lines(200))
    eventually(lambda: recorded(one, batch_id))
    two.server.flush()
    rows = line_rows(one, batch_id)
    assert len(rows) == 200 and len({r.id for r in rows}) == 200
    # Reading the files again (a retry, a lost lease) stores nothing twice. Either gateway may
    # take the job again (both poll), so the duplicates are counted across both recorders.
    poller = two.server.runtime.batches
    with session_scope(two.engine) as session:
        session.execute(update(BatchJob).values(recorded_at=None))
    two.server.run(poller.poll_once())
    eventually(lambda: recorded(one, batch_id))
    recorders = [gw.server.runtime.recorder for gw in (one, two)]
    for gw in (one, two):
        gw.server.flush()
    assert sum(r.stats.duplicates for r in recorders) >= 200
    assert len(line_rows(one, batch_id)) == 200


def test_a_broken_job_store_is_a_clear_error_never_a_crash(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(chat_lines(2))), purpose="batch")
    with gw.engine.begin() as conn:
        conn.execute(text("DROP TABLE batch_jobs"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.batches.retrieve("batch_anything")
    assert caught.value.code == "job_store_unavailable"
    job = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                completion_window="24h")  # fmt: skip
    assert job.status == "validating"  # relayed: the job runs upstream either way
    assert client.batches.list().data == []
    assert {r.endpoint for r in gw.requests()} >= {"/v1/batches", "/v1/batches/batch_anything"}


def test_an_upload_over_the_limit_is_a_413(
    make_gateway: GatewayFactory, batch_mock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("collector.gateway._jobs.MAX_UPLOAD_BYTES", 4096)
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    client = gw.client()
    with pytest.raises(openai.APIStatusError) as declared:
        client.files.create(file=("big.jsonl", io.BytesIO(chat_lines(100))), purpose="batch")
    assert declared.value.status_code == 413

    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        for _ in range(10):
            yield b"x" * 1000

    streamed = httpx.post(
        f"{gw.base_url}/files", content=chunks(), timeout=30,
        headers={"authorization": f"Bearer {gw.key()}",
                 "content-type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert streamed.status_code == 413, streamed.text
    assert "too large" in streamed.json()["error"]["message"]
