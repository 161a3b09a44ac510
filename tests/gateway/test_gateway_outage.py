"""Observability never breaks traffic: with the database unwritable, clients still get 200s."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Callable

import httpx
from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from collector.db import Request, session_scope
from tests.gateway._support import Gateway, GatewayFactory

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


def _count(gw: Gateway) -> int:
    with session_scope(gw.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Request)) or 0)


def _health(gw: Gateway) -> dict[str, object]:
    response = httpx.get(gw.base_url.removesuffix("/v1") + "/healthz")
    return dict(response.json())


def test_unwritable_database_spools_and_rows_arrive_after_recovery(
    make_gateway: GatewayFactory, sqlite_url: str
) -> None:
    gw = make_gateway(sqlite_busy_timeout_ms=50, spool_replay_interval_s=0.1)
    client = gw.client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # caches the key
    assert len(gw.requests()) == 1

    lock = sqlite3.connect(str(make_url(sqlite_url).database), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # every write now fails with "database is locked"
    try:
        answers = [
            client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            for _ in range(5)
        ]
        assert [a.http_request.url.path for a in answers] == ["/v1/chat/completions"] * 5
        assert all(a.parse().choices for a in answers)
        _eventually(lambda: _health(gw)["degraded"] is True, "the recorder spooled")
        assert _count(gw) == 1
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    _eventually(lambda: _count(gw) == 6, "spooled rows replayed")
    ids = {a.headers["x-spendscope-request-id"] for a in answers}
    with session_scope(gw.engine) as session:
        stored = set(session.scalars(select(Request.id)))
    assert ids <= stored
    _eventually(lambda: _health(gw)["degraded"] is False, "the recorder recovered")


def test_a_killed_writer_process_loses_nothing_and_health_shows_the_new_one(
    make_gateway: GatewayFactory,
) -> None:
    """The gateway's writer process dies (OOM killer, a bug): clients still get 200s, the
    batches it never confirmed are spooled and replayed by a new writer, and ``/healthz``
    names the writer now running and how often one was started."""
    gw = make_gateway(spool_replay_interval_s=0.1)
    client = gw.client()
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    _eventually(lambda: _count(gw) == 1, "the first row")
    writer = _health(gw)["recorder"]
    assert isinstance(writer, dict)
    first = writer["writer"]
    assert first["mode"] == "process" and first["starts"] == 1
    os.kill(first["pid"], signal.SIGKILL)
    for _ in range(20):
        assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices
        time.sleep(0.05)
    _eventually(lambda: _count(gw) == 21, "every request recorded by a new writer")
    now = _health(gw)["recorder"]
    assert isinstance(now, dict)
    assert now["writer"]["pid"] not in (None, first["pid"]) and now["writer"]["starts"] >= 2
    assert now["submitted"] == 21
