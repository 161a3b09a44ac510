"""Rotating the upstream key under load loses no request: a real ``spendscope serve`` process,
the official SDK sending continuously, while a key is added (SIGHUP), the old key is revoked
at the upstream, and removed (the admin API's reload). Every request is answered 200 and
recorded; the refused tries were repeated with the other key. With ``--workers 2``, SIGHUP
reloads every worker in place."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from collector.mock_upstream import MockConfig, run_in_thread
from tests.faults._harness import Gateway, GatewayFactory, Load, eventually, stored_ids

OLD, NEW = "sk-rotation-old-1111", "sk-rotation-new-2222"
ADMIN = "admin-token-rotation-0123456789"
BATCH = 40  # answered requests between two steps of the rotation


@pytest.fixture
def keyed_mock() -> Iterator[str]:
    with run_in_thread(MockConfig(accept_keys=(OLD,), output_tokens=8)) as url:
        yield url


def _accept(mock_url: str, *keys: str) -> None:
    root = mock_url.removesuffix("/v1")
    httpx.put(f"{root}/_mock/keys", json={"keys": list(keys)}, timeout=10).raise_for_status()


def _write_keys(work: Path, *keys: str) -> None:
    """The gateway's ``.env`` (its working directory's), as an operator edits it."""
    (work / ".env").write_text(f"SPENDSCOPE_UPSTREAM_KEYS={json.dumps({'default': keys})}\n")


def _states(base_url: str) -> dict[str, str]:
    root = base_url.removesuffix("/v1")
    answer = httpx.get(f"{root}/api/upstream-keys", headers={"authorization": f"Bearer {ADMIN}"})
    answer.raise_for_status()
    return {s["key"]: s["state"] for s in answer.json()}


def _step(load: Load, more: int) -> None:
    target = len(load.result.answered) + more
    load.wait_answered(target, 120)
    assert len(load.result.answered) >= target, "the load stalled"


def _tries(url: str) -> list[tuple[str, int, int | None, str | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            query = "SELECT request_id, attempt_no, http_status, upstream_key_last4 FROM attempts"
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_rotating_the_upstream_key_under_load_loses_no_request(
    start_gateway: GatewayFactory, tmp_path: Path, keyed_mock: str
) -> None:
    _write_keys(tmp_path, OLD)
    running = start_gateway(upstream_base_url=keyed_mock, admin_token=ADMIN)
    gw = running.gateway
    assert _states(gw.base_url) == {"…1111": "active"}
    with Load(gw.base_url, running.key, concurrency=4) as load:
        _step(load, BATCH)
        _write_keys(tmp_path, OLD, NEW)  # 1. add the new key: SIGHUP re-reads the settings
        _accept(keyed_mock, OLD, NEW)
        os.kill(gw.pid, signal.SIGHUP)
        assert eventually(lambda: _states(gw.base_url) == {"…1111": "active",
                                                            "…2222": "active"}, 30)  # fmt: skip
        _step(load, BATCH)
        _accept(keyed_mock, NEW)  # 2. the old key is revoked at the upstream
        assert eventually(lambda: _states(gw.base_url)["…1111"] == "revoked", 60)
        _step(load, BATCH)
        _write_keys(tmp_path, NEW)  # 3. removed: the admin API's reload
        root = gw.base_url.removesuffix("/v1")
        reload = httpx.post(f"{root}/api/upstream-keys/reload",
                            headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)  # fmt: skip
        assert reload.status_code == 200, reload.text
        assert _states(gw.base_url) == {"…2222": "active"}
        _step(load, BATCH)
    result = load.result
    assert result.no_answer == 0 and set(result.statuses) == {200}, result.statuses
    assert eventually(gw.drained, 60)
    assert result.answered <= stored_ids(running.rows_url)  # every request recorded
    tries = _tries(running.rows_url)
    refused = {rid for rid, _, status, key in tries if status == 401}
    assert refused and {key for _, _, status, key in tries if status == 401} == {"1111"}
    answered_by: dict[str, Any] = {rid: key for rid, _, status, key in tries if status == 200}
    assert all(answered_by.get(rid) == "2222" for rid in refused)  # retried on the new key
    assert {key for _, _, _, key in tries} == {"1111", "2222"}


def _everywhere(base_url: str, wanted: dict[str, str], answers: int = 12) -> bool:
    """``answers`` admin answers in a row (from whichever worker takes each) show ``wanted``."""
    return all(_states(base_url) == wanted for _ in range(answers))


def test_sighup_reloads_every_worker_under_load(
    db_url: str, tmp_path: Path, keyed_mock: str
) -> None:
    _write_keys(tmp_path, OLD)
    gw = Gateway(work=tmp_path, database_url=db_url, upstream=keyed_mock,
                 spool_dir=tmp_path / "spool", extra={"SPENDSCOPE_ADMIN_TOKEN": ADMIN})  # fmt: skip
    key = gw.create_key()
    log = (tmp_path / "gateway.log").open("ab")
    gw.proc = subprocess.Popen(
        gw.launcher.argv("serve", "--workers", "2"), env=gw.launcher.env(gw.settings()),
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        assert eventually(lambda: gw.health() is not None, 90), "gateway did not start"
        with Load(gw.base_url, key, concurrency=4) as load:
            _step(load, BATCH)
            _write_keys(tmp_path, OLD, NEW)
            _accept(keyed_mock, OLD, NEW)
            os.kill(gw.pid, signal.SIGHUP)
            both = {"…1111": "active", "…2222": "active"}
            assert eventually(lambda: _everywhere(gw.base_url, both), 30)
            _step(load, BATCH)
            _write_keys(tmp_path, NEW)
            os.kill(gw.pid, signal.SIGHUP)
            assert eventually(lambda: _everywhere(gw.base_url, {"…2222": "active"}), 30)
            _accept(keyed_mock, NEW)  # the old key revoked once no worker uses it
            _step(load, BATCH)
        result = load.result
        assert result.no_answer == 0 and set(result.statuses) == {200}, result.statuses
        assert eventually(lambda: result.answered <= stored_ids(db_url), 60)
    finally:
        gw.stop()
        log.close()
