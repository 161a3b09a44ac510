"""A background response started while the database is down is still followed and recorded:
the gateway cannot register it then, but the creating request's row (journaled, spooled,
replayed) names it, and the writer registers it when that row is written. A background
stream whose registration at its first event fails so streams on, whole, all the same."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector.db import make_engine
from collector.mock_upstream import MockConfig, run_in_thread
from collector.recorder import BACKGROUND_KEY
from collector.settings import Settings
from tests.gateway._background import finished, start
from tests.gateway._batches import job_row
from tests.gateway._outage import Outage
from tests.gateway._server import GatewayServer
from tests.gateway._support import UPSTREAM_KEY, Gateway


@contextmanager
def _gateway(migrated_url: str, tmp_path: Path, outage: Outage) -> Iterator[Gateway]:
    """A gateway on the database behind ``outage``, polling background responses quickly."""
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY)) as upstream:
        settings = Settings(
            database_url=outage.url, spool_dir=tmp_path / "spool", upstream_base_url=upstream,
            upstream_api_key=UPSTREAM_KEY, recorder_flush_interval_ms=10,
            spool_replay_interval_s=0.1, sqlite_busy_timeout_ms=50, batch_poll_interval_s=0.05,
            batch_lease_s=5.0,
        )  # fmt: skip
        server = GatewayServer(settings).start()
        direct = make_engine(migrated_url)
        try:
            yield Gateway(server, direct)
        finally:
            server.stop()
            direct.dispose()


def test_a_response_started_during_an_outage_is_registered_from_its_row_and_recorded(
    migrated_url: str, tmp_path: Path, outage: Outage
) -> None:
    with _gateway(migrated_url, tmp_path, outage) as gw:
        client = gw.client(gw.key(project="research", user="ana", tags={"team": "ml"}))
        client.models.list()  # the key is known (cached) before the outage
        gw.server.flush()
        outage.cut()
        try:
            response_id = start(client, delay_ms=100)
            if outage.proxy is None:  # SQLite readers still read: the response is not known
                assert job_row(gw, response_id) is None
        finally:
            outage.restore()
        row = finished(gw, response_id)
        assert row.cost_usd is not None and row.cost_usd > 0
        assert (row.end_user, row.tags) == ("ana", {"team": "ml"})
        stored = job_row(gw, response_id)
        assert stored is not None and (stored.kind, stored.lines_recorded) == ("response", 1)
        created = [r for r in gw.requests() if r.endpoint == "/v1/responses" and r.batch_id is None]
        assert [r.metadata_[BACKGROUND_KEY]["id"] for r in created] == [response_id]
        assert stored.request_id == created[0].id == row.metadata_["background_request"]


def test_a_background_stream_during_an_outage_streams_whole_and_is_recorded_after(
    migrated_url: str, tmp_path: Path, outage: Outage
) -> None:
    with _gateway(migrated_url, tmp_path, outage) as gw:
        client = gw.client(gw.key(project="research"))
        client.models.list()  # the key is known (cached) before the outage
        gw.server.flush()
        outage.cut()
        try:  # registering at the first event fails: the stream goes on regardless
            stream = client.responses.create(
                model="gpt-4o-mini", input="stream it", background=True, stream=True
            )
            events: list[Any] = list(stream)
        finally:
            outage.restore()
        assert events[-1].type == "response.completed"
        response_id = events[0].response.id
        row = finished(gw, response_id)  # registered from the create row's note
        assert row.cost_usd is not None and row.cost_usd > 0
