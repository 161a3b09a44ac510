"""Killed and stopped processes lose no answered request (issue 16, row 4 and item 5).

Load is 64 SDK clients; a request counts as answered once the client has its response with
an ``x-spendscope-request-id``. After the fault (and, for a killed gateway, a restart on the
same database and spool) and ``/healthz`` reporting nothing pending, each must be a row.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.faults._harness import (
    GatewayFactory,
    Load,
    LoadResult,
    Outage,
    Running,
    eventually,
    loss_report,
    normal_request,
    send_each,
    settle,
    stored_ids,
)

pytestmark = pytest.mark.faults

CONCURRENCY = 64


def warm(run: Running) -> None:
    """One request stored: the key is cached and the recorder has written once."""
    result, _ = send_each(run.gateway.base_url, run.key, [normal_request()])
    assert result.answered and eventually(lambda: result.answered <= stored_ids(run.rows_url), 20)


def assert_no_loss(
    run: Running, result: LoadResult, until: Callable[[], bool] | None = None
) -> None:
    """Every answered request is a row once ``/healthz`` settled (``until``: nothing pending
    and ``ok``, by default)."""
    assert len(result.answered) >= 50, f"too little load to judge: {result.statuses}"
    settlement = settle(run.gateway, run.rows_url, result.answered, 30, until)
    assert not settlement.missing, loss_report(result, settlement)
    assert settlement.settled, f"/healthz never settled: {settlement.health}"


def restart_after_kill(run: Running) -> None:
    """Let the killed gateway's writer finish by itself, then start again on the same files."""
    run.gateway.wait_group_gone(15)
    run.gateway.start()


def test_sigkill_of_the_gateway_under_load_loses_nothing(start_gateway: GatewayFactory) -> None:
    run = start_gateway()
    warm(run)
    with Load(run.gateway.base_url, run.key, CONCURRENCY) as load:
        time.sleep(3)
        run.gateway.kill()
        time.sleep(0.5)
    restart_after_kill(run)
    assert_no_loss(run, load.result)


def test_sigkill_of_the_gateway_during_a_database_outage_loses_nothing(
    start_gateway: GatewayFactory, outage: Outage
) -> None:
    run = start_gateway(outage=outage)
    warm(run)
    outage.cut()
    try:
        with Load(run.gateway.base_url, run.key, CONCURRENCY) as load:
            time.sleep(1)
            load.wait_answered(100, timeout=30)  # enough answered during the outage to judge
            run.gateway.kill()
            time.sleep(0.5)
        run.gateway.wait_group_gone(15)
    finally:
        outage.restore()
    run.gateway.start()
    assert_no_loss(run, load.result)


def test_sigkill_of_the_writer_process_under_load_loses_nothing(
    start_gateway: GatewayFactory,
) -> None:
    run = start_gateway()
    warm(run)
    writer = run.gateway.writer_pid()
    with Load(run.gateway.base_url, run.key, CONCURRENCY) as load:
        time.sleep(2)
        os.kill(writer, signal.SIGKILL)
        time.sleep(2)
    assert run.gateway.proc is not None and run.gateway.proc.poll() is None, "gateway died"
    # /healthz may say "degraded" for a while after a writer restart: wait for nothing pending.
    assert_no_loss(run, load.result, until=run.gateway.drained)
    assert run.gateway.writer_pid() != writer


def test_sigterm_under_load_stops_cleanly_and_loses_nothing(
    start_gateway: GatewayFactory,
) -> None:
    run = start_gateway()
    warm(run)
    with Load(run.gateway.base_url, run.key, CONCURRENCY) as load:
        # the stop lands in the middle of the load; on a busy machine the 50 answers it is
        # judged by take longer than a fixed pause
        load.wait_answered(60, timeout=120)
        status = run.gateway.terminate(45)
    assert status == 0, f"exit status {status} after SIGTERM"
    result = load.result
    assert len(result.answered) >= 50, result.statuses
    missing = result.answered - stored_ids(run.rows_url)
    assert not missing, (
        f"{len(missing)} of {len(result.answered)} answered requests are not rows after a"
        f" clean stop (statuses {dict(result.statuses)})"
    )
