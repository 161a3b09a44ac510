"""Files belong to the project that uploaded them through the gateway: anyone else, and any
file never uploaded through it, gets a 404 — for retrieve, content, delete and batch input."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import select

from collector.db import GatewayFile, make_engine, session_scope
from collector.mock_upstream import MockConfig, run_in_thread
from collector.recorder import FILE_KEY
from collector.settings import Settings
from tests.gateway._batches import FAST, chat_lines, eventually, recorded, start_job
from tests.gateway._outage import Outage
from tests.gateway._server import GatewayServer
from tests.gateway._support import UPSTREAM_KEY, Gateway, GatewayFactory


@pytest.fixture(scope="module")
def batch_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(require_key=UPSTREAM_KEY, batch_step_s=0.1)) as url:
        yield url


def _upload(client: openai.OpenAI, lines: int = 2) -> str:
    data = io.BytesIO(chat_lines(lines))
    return client.files.create(file=("in.jsonl", data), purpose="batch").id


def _not_found(file_id: str, param: str = "id") -> dict[str, object]:
    return {
        "message": f"No such File object: {file_id}", "type": "invalid_request_error",
        "param": param, "code": "not_found",
    }  # fmt: skip


def test_a_file_is_answered_to_its_own_project_only(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    mine, theirs = gw.client(gw.key(project="a")), gw.client(gw.key(project="b"))
    file_id = _upload(mine)
    assert mine.files.retrieve(file_id).id == file_id
    assert mine.files.content(file_id).content == chat_lines(2)
    for ask in (
        lambda: theirs.files.retrieve(file_id),
        lambda: theirs.files.content(file_id),
        lambda: theirs.files.delete(file_id),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            ask()
        assert caught.value.body == _not_found(file_id)
    with pytest.raises(openai.NotFoundError) as batch:
        theirs.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                              completion_window="24h")  # fmt: skip
    assert batch.value.body == _not_found(file_id, "input_file_id")
    assert [f.id for f in mine.files.list()] == [file_id]
    assert [f.id for f in theirs.files.list()] == []
    assert mine.files.delete(file_id).deleted is True
    with session_scope(gw.engine) as session:
        [row] = session.scalars(select(GatewayFile))
        assert (row.id, row.purpose, row.size_bytes) == (file_id, "batch", len(chat_lines(2)))
    [refused] = [r for r in gw.requests() if r.endpoint == f"/v1/files/{file_id}/content"][1:]
    assert (refused.outcome, refused.http_status, refused.attempt_count) == ("client_error", 404, 0)


def test_a_file_not_uploaded_through_the_gateway_is_not_found(
    make_gateway: GatewayFactory, batch_mock: str
) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    direct = httpx.post(
        f"{batch_mock}/files", headers={"authorization": f"Bearer {UPSTREAM_KEY}"},
        files={"file": ("in.jsonl", chat_lines(2))}, data={"purpose": "batch"},
    )  # fmt: skip
    file_id = direct.json()["id"]
    client = gw.client()
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file_id)
    with pytest.raises(openai.NotFoundError) as batch:
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions",
                              completion_window="24h")  # fmt: skip
    assert batch.value.body == _not_found(file_id, "input_file_id")
    assert client.files.list().data == []


def test_a_jobs_output_file_is_its_projects(make_gateway: GatewayFactory, batch_mock: str) -> None:
    gw = make_gateway(upstream_base_url=batch_mock, **FAST)
    mine, theirs = gw.client(gw.key(project="a")), gw.client(gw.key(project="b"))
    batch_id = start_job(mine, chat_lines(3))
    eventually(lambda: recorded(gw, batch_id))
    output = mine.batches.retrieve(batch_id).output_file_id
    assert output is not None
    assert len(mine.files.content(output).text.splitlines()) == 3
    with pytest.raises(openai.NotFoundError):
        theirs.files.content(output)
    fresh = make_gateway(upstream_base_url=batch_mock, **FAST)  # knows it from batch_jobs only
    assert len(fresh.client(gw.key(project="a")).files.content(output).text.splitlines()) == 3


def test_a_file_uploaded_during_an_outage_stays_its_projects(
    migrated_url: str, tmp_path: Path, outage: Outage, batch_mock: str
) -> None:
    settings = Settings(
        database_url=outage.url, spool_dir=tmp_path / "spool", upstream_base_url=batch_mock,
        upstream_api_key=UPSTREAM_KEY, recorder_flush_interval_ms=10,
        spool_replay_interval_s=0.1, sqlite_busy_timeout_ms=50,
    )  # fmt: skip
    server = GatewayServer(settings).start()
    direct = make_engine(migrated_url)
    gw = Gateway(server, direct)
    try:
        client = gw.client(gw.key(project="a"))
        client.files.list()  # the key is cached
        outage.cut()
        try:
            file_id = _upload(client)
            assert client.files.retrieve(file_id).id == file_id  # remembered by this process
        finally:
            outage.restore()

        def registered() -> bool:
            with session_scope(direct) as session:
                return session.get(GatewayFile, file_id) is not None

        eventually(registered)
        [upload] = [r for r in gw.requests() if r.endpoint == "/v1/files" and r.metadata_]
        assert upload.metadata_[FILE_KEY]["id"] == file_id
        other = make_gateway_on(outage.url, tmp_path, batch_mock)
        try:
            assert Gateway(other, direct).client(gw.key(project="a")).files.retrieve(file_id)
            with pytest.raises(openai.NotFoundError):
                Gateway(other, direct).client(gw.key(project="b")).files.retrieve(file_id)
        finally:
            other.stop()
    finally:
        server.stop()
        direct.dispose()


def make_gateway_on(url: str, tmp_path: Path, upstream: str) -> GatewayServer:
    settings = Settings(
        database_url=url, spool_dir=tmp_path / "spool-2", upstream_base_url=upstream,
        upstream_api_key=UPSTREAM_KEY, recorder_flush_interval_ms=10,
    )  # fmt: skip
    return GatewayServer(settings).start()
