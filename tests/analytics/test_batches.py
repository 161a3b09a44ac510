"""The Batch API job queries: lines recorded and cost so far per job, summed from the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from collector.analytics import Filters, batch_job, batch_jobs, batches_frame, requests_page
from collector.batches import register
from collector.recorder import write_batch
from tests.factories import make_event, make_key, make_project

T = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _job(engine: Engine, batch_id: str, project: int, key: int, at: datetime) -> None:
    counts = {"total": 3, "completed": 2, "failed": 1}
    wire = {"id": batch_id, "endpoint": "/v1/chat/completions", "status": "completed",
            "input_file_id": "file-in", "request_counts": counts}  # fmt: skip
    assert register(engine, wire, upstream="default", project_id=project, api_key_id=key,
                    end_user="ana", tags={"team": "ml"}, now=at)  # fmt: skip


@pytest.fixture
def two_jobs(engine: Engine) -> tuple[int, int]:
    alpha, beta = make_project(engine, "alpha"), make_project(engine, "beta")
    ka, kb = make_key(engine, alpha, "sk-a"), make_key(engine, beta, "sk-b")
    _job(engine, "batch_a", alpha, ka, T)
    _job(engine, "batch_b", beta, kb, T + timedelta(minutes=5))
    line = {"batch": True, "project_id": alpha, "api_key_id": ka, "started_at": T}
    write_batch(engine, [
        make_event(batch_id="batch_a", cost_usd=Decimal("0.0000123456"), **line),
        make_event(batch_id="batch_a", cost_usd=Decimal("0.0000200000"), **line),
        make_event(batch_id="batch_a", cost_usd=None, cost_source="unpriced", **line),
        make_event(cost_usd=Decimal("1"), project_id=alpha, started_at=T),  # not a batch line
    ])  # fmt: skip
    return alpha, beta


def test_a_job_sums_its_own_lines_only(engine: Engine, two_jobs: tuple[int, int]) -> None:
    job = batch_job(engine, "batch_a")
    assert job is not None
    assert (job.lines_recorded, job.unpriced_lines) == (3, 1)
    assert job.cost_usd == Decimal("0.0000323456")
    assert (job.project, job.key, job.end_user, job.tags) == (
        "alpha",
        "sk-a (#1)",
        "ana",
        {"team": "ml"},
    )
    assert (job.request_total, job.request_completed, job.request_failed) == (3, 2, 1)
    empty = batch_job(engine, "batch_b")
    assert empty is not None and (empty.lines_recorded, empty.cost_usd) == (0, Decimal(0))
    assert batch_job(engine, "batch_nope") is None


def test_jobs_list_newest_first_and_by_project(engine: Engine, two_jobs: tuple[int, int]) -> None:
    alpha, _ = two_jobs
    assert [j.id for j in batch_jobs(engine)] == ["batch_b", "batch_a"]
    assert [j.id for j in batch_jobs(engine, project_ids=(alpha,))] == ["batch_a"]
    with pytest.raises(ValueError, match="limit"):
        batch_jobs(engine, limit=0)
    df = batches_frame(engine)
    assert list(df["id"]) == ["batch_b", "batch_a"]
    assert df.loc[df["id"] == "batch_a", "cost_usd"].item() == Decimal("0.0000323456")


def test_the_requests_table_filters_by_job(engine: Engine, two_jobs: tuple[int, int]) -> None:
    f = Filters(T - timedelta(hours=1), T + timedelta(hours=1))
    page, total = requests_page(engine, f, search="batch_a")
    assert total == 3 and len(page) == 3
    _, everything = requests_page(engine, f)
    assert everything == 4
