"""The Batches page's callback over a seeded database: each job's lines and cost so far,
its id linking to the Requests page filtered to those lines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import dash
import pytest
from sqlalchemy import Engine

from collector.batches import register
from collector.recorder import write_batch
from dashboard import format as fmt
from dashboard.pages import batches, requests
from tests.dashboard.seed import NOW, Seeded
from tests.factories import make_event, make_key, make_project


@pytest.fixture(autouse=True)
def _request_context(app: dash.Dash) -> Iterator[None]:
    with app.server.test_request_context():
        yield


@pytest.fixture
def job(seeded: tuple[Engine, Seeded]) -> int:
    engine = seeded[0]
    project = make_project(engine, "batchers")
    key = make_key(engine, project, "sk-batch")
    at = NOW - timedelta(hours=2)
    wire = {"id": "batch_77", "endpoint": "/v1/chat/completions", "status": "completed",
            "request_counts": {"total": 3, "completed": 3, "failed": 0}}  # fmt: skip
    register(engine, wire, upstream="default", project_id=project, api_key_id=key,
             end_user=None, tags={}, now=at)  # fmt: skip
    line = {"batch_id": "batch_77", "batch": True, "project_id": project, "started_at": at}
    write_batch(engine, [make_event(cost_usd=Decimal("0.25"), **line) for _ in range(3)])
    return project


def test_each_job_shows_its_lines_and_cost_so_far(job: int) -> None:
    seeded_job, row = batches.rows("", None)  # newest first
    assert seeded_job["id"].startswith("[batch_seed]") and seeded_job["lines_recorded"] == "0"
    assert row["id"] == "[batch_77](/requests?q=batch_77)"
    assert (row["status"], row["project"], row["lines_recorded"]) == ("completed", "batchers", "3")
    assert row["cost_usd"] == fmt.money(Decimal("0.75"))
    assert [r["project"] for r in batches.rows(f"?project={job}", None)] == ["batchers"]
    assert batches.rows(f"?project={job + 1000}", None) == []


def test_the_jobs_link_shows_only_its_lines(job: int) -> None:
    rows, _, label, *_ = requests.update_table("?q=batch_77&range=7d", 0, None, None)
    assert label == "3 matching requests" and len(rows) == 3
