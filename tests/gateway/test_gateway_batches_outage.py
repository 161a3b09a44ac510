"""A Batch API job created while the database is down is still followed and recorded.

The gateway cannot register the job then, but the creating request's row (journaled, spooled,
replayed) names it, and the writer registers it when that row is written. SQLite: another
connection holds ``BEGIN EXCLUSIVE``; PostgreSQL: the gateway's connections go through a TCP
proxy that is cut.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from collector.db import ApiKey, make_engine, session_scope
from collector.mock_upstream import MockConfig, run_in_thread
from collector.recorder import JOB_KEY, UsageEvent, write_batch
from collector.settings import Settings
from tests.gateway._batches import by_custom_id, chat_lines, eventually, job_row, line_rows
from tests.gateway._outage import Outage
from tests.gateway._server import GatewayServer
from tests.gateway._support import UPSTREAM_KEY, Gateway, virtual_key


def test_a_job_created_during_an_outage_is_registered_from_its_row_and_recorded(
    migrated_url: str, tmp_path: Path, outage: Outage
) -> None:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, batch_step_s=0.1)) as upstream:
        settings = Settings(
            database_url=outage.url, spool_dir=tmp_path / "spool", upstream_base_url=upstream,
            upstream_api_key=UPSTREAM_KEY, recorder_flush_interval_ms=10,
            spool_replay_interval_s=0.1, sqlite_busy_timeout_ms=50, batch_poll_interval_s=0.05,
            batch_lease_s=5.0,
        )  # fmt: skip
        server = GatewayServer(settings).start()
        direct = make_engine(migrated_url)
        gw = Gateway(server, direct)
        try:
            client = gw.client(gw.key(project="research", user="ana", tags={"team": "ml"}))
            data = io.BytesIO(chat_lines(12))
            uploaded = client.files.create(file=("in.jsonl", data), purpose="batch")
            server.flush()
            outage.cut()
            try:
                job = client.batches.create(
                    input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                    completion_window="24h",
                )  # fmt: skip
                assert job.status == "validating"
                if outage.proxy is None:  # SQLite readers still read: the job is not known
                    assert job_row(gw, job.id) is None
            finally:
                outage.restore()
            eventually(lambda: (row := job_row(gw, job.id)) is not None and row.recorded_at
                       is not None)  # fmt: skip
            rows = by_custom_id(line_rows(gw, job.id))
            assert sorted(rows) == sorted(f"req-{i}" for i in range(12))
            assert all(r.batch and r.cost_usd and r.cost_usd > 0 for r in rows.values())
            assert {(r.end_user, str(r.tags)) for r in rows.values()} == {
                ("ana", str({"team": "ml"}))
            }
            stored = job_row(gw, job.id)
            assert stored is not None and stored.lines_recorded == 12
            assert (stored.end_user, stored.tags, stored.input_file_id) == (
                "ana", {"team": "ml"}, uploaded.id,
            )  # fmt: skip
            created = [r for r in gw.requests() if r.endpoint == "/v1/batches"]
            assert [r.metadata_[JOB_KEY]["id"] for r in created] == [job.id]
        finally:
            server.stop()
            direct.dispose()


def test_a_client_cannot_name_a_job_in_its_own_metadata(
    migrated_url: str, tmp_path: Path, mock_base_url: str
) -> None:
    """Only the gateway writes the job key: a client's value for it is dropped."""
    settings = Settings(
        database_url=migrated_url, spool_dir=tmp_path / "spool", upstream_base_url=mock_base_url,
        upstream_api_key=UPSTREAM_KEY, recorder_flush_interval_ms=10,
    )  # fmt: skip
    server = GatewayServer(settings).start()
    direct = make_engine(migrated_url)
    gw = Gateway(server, direct)
    try:
        forged = '{"%s": {"id": "batch_forged"}, "trace": "t1"}' % JOB_KEY  # noqa: UP031
        client = gw.client(default_headers={"x-spendscope-metadata": forged})
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        [row] = gw.requests()
        assert row.metadata_ == {"trace": "t1"}
        assert job_row(gw, "batch_forged") is None
    finally:
        server.stop()
        direct.dispose()


def test_only_a_relayed_job_creation_registers_a_job(migrated_url: str) -> None:
    """A row that merely carries the key (not a 2xx ``POST /v1/batches`` from an upstream)
    registers nothing; one that does registers its job once, however often it is written."""
    engine = make_engine(migrated_url)
    try:
        virtual_key(engine, project="p")
        with session_scope(engine) as session:
            key = session.query(ApiKey).one()
            project_id, key_id = key.project_id, key.id
        now = datetime.now(UTC)

        def event(rid: str, batch_id: str, **changes: object) -> UsageEvent:
            base: dict[str, object] = dict(
                id=rid, started_at=now, duration_ms=1.0, endpoint="/v1/batches",
                outcome="success", cost_source="unpriced", project_id=project_id,
                api_key_id=key_id, http_status=200, upstream="default",
                metadata={JOB_KEY: {"id": batch_id, "endpoint": "/v1/chat/completions"}},
            )  # fmt: skip
            base.update(changes)
            return UsageEvent(**base)  # type: ignore[arg-type]

        ids = iter(f"01J{i:023d}" for i in range(10))
        write_batch(engine, [
            event(next(ids), "batch_ingested", upstream=None),
            event(next(ids), "batch_refused", http_status=400),
            event(next(ids), "batch_other", endpoint="/v1/chat/completions"),
            event(next(ids), "batch_ok"),
        ])  # fmt: skip
        again = event(next(ids), "batch_ok")
        assert write_batch(engine, [again]) == 1
        assert write_batch(engine, [again]) == 0
        with engine.connect() as conn:
            found = conn.execute(text("SELECT id, project_id, endpoint FROM batch_jobs")).all()
        assert [tuple(r) for r in found] == [("batch_ok", project_id, "/v1/chat/completions")]
    finally:
        engine.dispose()
