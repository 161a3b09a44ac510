"""The poller and a background response upstream cannot answer about: a 5xx is asked again
after a pause that grows with how long the response has gone unread (never given up), a 404
counts one more miss in a row, and ``GIVE_UP_AFTER`` misses end it ``not_found`` with one
``unpriced`` row."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import Engine, update

from collector.batches import RESPONSE, JobRef, back_off, claim_open, register_response
from collector.db import BatchJob, make_engine, session_scope
from collector.gateway._batch_poller import GIVE_UP_AFTER, MAX_PAUSE_S, BatchPoller, retry_at
from collector.gateway._upstream import UpstreamTable
from collector.mock_upstream import MockConfig, run_in_thread
from collector.mock_upstream._scenario import scenario_from_dict
from collector.recorder import UsageEvent
from collector.settings import Settings
from tests.gateway._support import UPSTREAM_KEY

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
DOWN, GONE = "resp_down", "resp_gone"


def _job(updated: datetime | None) -> JobRef:
    return JobRef("resp_x", None, "/v1/responses", NOW - timedelta(hours=1), "queued", 1, 1,
                  None, {}, RESPONSE, "gpt-4o-mini", None, updated)  # fmt: skip


def test_the_pause_grows_with_the_time_unread_between_bounds() -> None:
    for unread, pause in ((0.0, 2.0), (1.0, 2.0), (8.0, 8.0), (60.0, 60.0), (1e6, MAX_PAUSE_S)):
        at = retry_at(_job(NOW - timedelta(seconds=unread)), 2.0, NOW)
        assert pause / 2 <= (at - NOW).total_seconds() <= pause
    assert retry_at(_job(None), 2.0, NOW) <= NOW + timedelta(seconds=2)


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def _register(engine: Engine, response_id: str) -> None:
    register_response(
        engine, {"id": response_id, "status": "in_progress", "model": "gpt-4o-mini"},
        request_id="01JCREATED", upstream=None, project_id=None, api_key_id=None,
        end_user=None, tags={}, now=datetime.now(UTC),
    )  # fmt: skip


def test_a_lease_backed_off_is_nobodys_until_then_and_counts_misses(engine: Engine) -> None:
    _register(engine, GONE)
    now = datetime.now(UTC)
    [job] = claim_open(engine, "a", now, 30)
    back_off(engine, job.id, "a", now + timedelta(seconds=10), missing=True)
    assert claim_open(engine, "b", now + timedelta(seconds=5), 30) == []
    [again] = claim_open(engine, "b", now + timedelta(seconds=11), 30)
    assert again.misses == 1
    back_off(engine, job.id, "b", now + timedelta(seconds=20))  # a 5xx: not a miss
    [third] = claim_open(engine, "a", now + timedelta(seconds=21), 30)
    assert third.misses == 1


async def test_5xx_is_retried_and_404s_in_a_row_are_given_up(
    engine: Engine, tmp_path: Path
) -> None:
    scenario = scenario_from_dict(
        {"rules": [{"path": f"/v1/responses/{DOWN}", "faults": {"500": 1.0}}]}
    )
    config = MockConfig(require_key=UPSTREAM_KEY, scenario=scenario)
    for response_id in (DOWN, GONE):
        _register(engine, response_id)
    submitted: list[UsageEvent] = []

    def submit(events: Sequence[UsageEvent]) -> None:
        submitted.extend(events)

    with run_in_thread(config) as url:
        settings = Settings(upstream_base_url=url, upstream_api_key=UPSTREAM_KEY,
                            spool_dir=tmp_path / "spool")  # fmt: skip
        async with aiohttp.ClientSession() as session:
            poller = BatchPoller(engine, session, UpstreamTable(settings), submit, lambda: (),
                                 lease_s=30)  # fmt: skip
            for _ in range(GIVE_UP_AFTER + 2):
                with session_scope(engine) as db:  # the pauses have passed
                    db.execute(update(BatchJob).values(lease_until=None, lease_owner=None))
                await poller.poll_once()
    with session_scope(engine) as db:
        down, gone = db.get(BatchJob, DOWN), db.get(BatchJob, GONE)
        assert down is not None and gone is not None
        assert (down.recorded_at, down.request_failed, down.status) == (None, 0, "in_progress")
        assert down.lease_until is not None and down.lease_owner is None  # backed off
        assert gone.recorded_at is not None and gone.status == "not_found"
    assert [(e.batch_id, e.cost_source, e.cost_usd) for e in submitted] == [
        (GONE, "unpriced", None)
    ]
