"""``db_failure_policy`` through the gateway: the budget store goes away mid-traffic.

The gateway reaches PostgreSQL through a TCP proxy the test cuts (the shared server keeps
running). fail_open keeps serving and books the unchecked spend once the database is back;
fail_closed answers 503 ``budget_store_unavailable`` for hard-budgeted traffic.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from sqlalchemy import func, make_url, select

from collector.budgets import budget_statuses
from collector.db import Request, make_engine, session_scope
from collector.settings import Settings
from tests.gateway._server import GatewayServer
from tests.gateway._support import UPSTREAM_KEY, Gateway
from tests.gateway.test_admission_gateway import UTC_TZ, ask, hard_budget, key, worst_case
from tests.support.tcp_proxy import TcpProxy


def _through(url: str, proxy: TcpProxy) -> str:
    return make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


async def _until(done: object) -> None:
    async with asyncio.timeout(20):
        for _ in itertools.count():
            if done():  # type: ignore[operator]
                return
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("policy", ["fail_open", "fail_closed"])
def test_budget_store_down(
    pg_migrated_url: str, tmp_path: Path, mock_base_url: str, policy: str
) -> None:
    migrated_url = pg_migrated_url  # the TCP proxy stands between the gateway and PostgreSQL
    direct = make_engine(migrated_url)
    proxy = TcpProxy("127.0.0.1", make_url(migrated_url).port or 5432)
    proxy.start()
    worst = worst_case()
    hard_budget(direct, worst * 10)
    settings = Settings(
        database_url=_through(migrated_url, proxy), spool_dir=tmp_path / "spool",
        upstream_base_url=mock_base_url, upstream_api_key=UPSTREAM_KEY,
        recorder_flush_interval_ms=10, spool_replay_interval_s=0.2, db_failure_policy=policy,
    )  # fmt: skip
    server = GatewayServer(settings).start()
    try:
        _outage(Gateway(server, direct), proxy, policy)
    finally:
        server.stop()
        proxy.close()
    with session_scope(direct) as session:
        rows = list(session.scalars(select(Request).order_by(Request.started_at)))
    [status] = budget_statuses(direct, datetime.now(UTC), UTC_TZ)
    direct.dispose()
    if policy == "fail_open":
        assert [r.outcome for r in rows] == ["success", "success"]
        assert status.spent_usd == worst * 2  # the unchecked request was booked afterwards
    else:
        # our own policy refusing, not a failure: blocked, outside the error budget
        assert [r.outcome for r in rows] == ["success", "blocked"]
        assert (rows[1].http_status, rows[1].error_type) == (503, "budget_store_unavailable")
        assert rows[1].attempt_count == 0  # nothing went upstream
        assert status.spent_usd == worst
    assert status.reserved_usd == Decimal(0)


def _outage(gw: Gateway, proxy: TcpProxy, policy: str) -> None:
    """One request while the database is up, one while it is cut; then it comes back."""
    client = openai.OpenAI(base_url=gw.base_url, api_key=key(gw.engine), max_retries=0)
    ask(client)  # warms the key and budget caches; one reservation, settled
    gw.server.flush()
    proxy.cut()
    if policy == "fail_open":
        assert ask(client).http_response.status_code == 200
    else:
        with pytest.raises(openai.InternalServerError) as caught:
            ask(client)
        assert caught.value.status_code == 503
        assert caught.value.code == "budget_store_unavailable"
        assert "fail closed" in caught.value.message
    proxy.start()
    gw.server.run(_until(lambda: _count(gw) == 2))  # the spooled row is replayed
    assert gw.server.run(gw.server.runtime.admitter.ledger.flush(20))


def _count(gw: Gateway) -> int:
    with gw.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Request)).scalar_one())
