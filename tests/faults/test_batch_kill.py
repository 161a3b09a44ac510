"""A gateway killed while it writes a Batch API job's lines loses none and books none twice.

Those lines go straight to the writer process without the journal
(``collector.recorder.direct``): the job's output file stands in for it, read again by the
next gateway because the killed one never marked the job recorded.
"""

from __future__ import annotations

import io
import time

import openai
import orjson
import pytest
from sqlalchemy import Engine, create_engine, text

from tests.faults._harness import GatewayFactory, Running, eventually

pytestmark = pytest.mark.faults

LINES = 10_000


def _input_file(n: int) -> bytes:
    out = io.BytesIO()
    for i in range(n):
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"line {i}"}]}
        row = {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
               "body": body}  # fmt: skip
        out.write(orjson.dumps(row) + b"\n")
    return out.getvalue()


def _figures(engine: Engine, batch_id: str) -> tuple[int, int, int, int, bool]:
    """(the job's rows, their distinct ids, all rows, requests in the hourly rollups, whether
    the job is marked recorded)."""
    with engine.connect() as conn:
        job = {"b": batch_id}
        rows, distinct = conn.execute(
            text("SELECT count(*), count(DISTINCT id) FROM requests WHERE batch_id = :b"), job
        ).one()
        every = conn.execute(text("SELECT count(*) FROM requests")).scalar_one()
        rolled = conn.execute(
            text("SELECT coalesce(sum(requests), 0) FROM hourly_rollups")
        ).scalar_one()
        done = conn.execute(
            text("SELECT recorded_at IS NOT NULL FROM batch_jobs WHERE id = :b"), job
        ).scalar_one_or_none()
    return int(rows), int(distinct), int(every), int(rolled), bool(done)


def test_sigkill_while_a_jobs_lines_are_written_loses_none(
    start_gateway: GatewayFactory,
) -> None:
    run = start_gateway(batch_poll_interval_s="0.05", batch_lease_s="3")
    engine = create_engine(run.rows_url)
    try:
        _kill_mid_job_and_restart(run, engine)
    finally:
        engine.dispose()


def _kill_mid_job_and_restart(run: Running, engine: Engine) -> None:
    client = openai.OpenAI(base_url=run.gateway.base_url, api_key=run.key, max_retries=2)
    uploaded = client.files.create(
        file=("input.jsonl", io.BytesIO(_input_file(LINES))), purpose="batch"
    )
    job = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    at_kill = 0
    deadline = time.monotonic() + 120
    while at_kill == 0:  # the first batches of lines are committed: kill in the middle
        assert time.monotonic() < deadline, "the job's lines never started to be written"
        at_kill = _figures(engine, job.id)[0]
        time.sleep(0.005)
    run.gateway.kill()
    assert 0 < at_kill < LINES, f"the kill did not land mid-job ({at_kill} of {LINES} written)"
    assert not _figures(engine, job.id)[4]  # killed before it could mark the job
    run.gateway.wait_group_gone(15)
    run.gateway.start()
    assert eventually(lambda: _figures(engine, job.id)[4], 120)
    rows, distinct, every, rolled, _ = _figures(engine, job.id)
    assert (rows, distinct) == (LINES, LINES)
    assert rolled == every  # no line rolled up twice (nor missed) across the two gateways
