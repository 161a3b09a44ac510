"""A poller stopped while a database call runs on its thread: the call still ends (a
cancelled thread cannot be stopped), and the poller's leases are released only after it, so
a lease that call takes is not left behind to hold the job until it runs out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Engine, select

from collector.batches import JobRef, claim_open, register_response
from collector.db import BatchJob, make_engine
from collector.gateway import _batch_poller
from collector.gateway._batch_poller import BatchPoller
from collector.gateway._upstream import UpstreamTable
from collector.recorder import UsageEvent
from collector.settings import Settings


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


async def test_a_claim_running_at_shutdown_leaves_no_lease(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_response(
        engine, {"id": "resp_1", "status": "in_progress", "model": "gpt-4o-mini"},
        request_id="01JCREATED", upstream=None, project_id=None, api_key_id=None,
        end_user=None, tags={}, now=datetime.now(UTC),
    )  # fmt: skip
    entered, proceed, claimed = threading.Event(), threading.Event(), threading.Event()

    def slow_claim(*args: Any) -> list[JobRef]:
        entered.set()
        proceed.wait(30)
        try:
            return claim_open(*args)
        finally:
            claimed.set()

    monkeypatch.setattr(_batch_poller, "claim_open", slow_claim)

    def submit(events: Sequence[UsageEvent]) -> None:
        raise AssertionError("nothing is recorded")

    settings = Settings(upstream_base_url="http://127.0.0.1:9", spool_dir=tmp_path / "spool")
    async with aiohttp.ClientSession() as session:
        poller = BatchPoller(engine, session, UpstreamTable(settings), submit, lambda: (),
                             lease_s=600)  # fmt: skip
        task = asyncio.create_task(poller.run_forever(0.05))
        assert await asyncio.to_thread(entered.wait, 30)
        task.cancel()
        await asyncio.sleep(0.3)  # a shutdown that did not wait would release now
        proceed.set()  # the claim commits its lease only now
        with pytest.raises(asyncio.CancelledError):
            await task
    assert claimed.wait(30)
    with engine.connect() as conn:
        owner = conn.scalar(select(BatchJob.lease_owner).where(BatchJob.id == "resp_1"))
    assert owner is None
