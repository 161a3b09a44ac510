"""A database outage, with the spool on a full or read-only disk, loses nothing
(issue 16, row 2 and item 5), and ``/healthz`` says ``degraded`` while it lasts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults._harness import (
    GatewayFactory,
    Load,
    LoadResult,
    Outage,
    Running,
    counted_drops,
    eventually,
    loss_report,
    normal_request,
    remount,
    send_each,
    settle,
    stored_ids,
    tmpfs,
    watch_status,
)

pytestmark = pytest.mark.faults

CONCURRENCY = 32


def warm(run: Running) -> None:
    result, _ = send_each(run.gateway.base_url, run.key, [normal_request()])
    assert result.answered and eventually(lambda: result.answered <= stored_ids(run.rows_url), 20)


@dataclass
class Through:
    """What the client saw over the whole run, what it saw during the outage, and
    ``/healthz`` sampled from 3 s into the outage until it ended."""

    whole: LoadResult
    during: LoadResult
    statuses: list[str | None]


def load_through_outage(run: Running, outage: Outage, seconds: float) -> Through:
    """Load for 1 s before, ``seconds`` during and 1 s after a database outage."""
    with Load(run.gateway.base_url, run.key, CONCURRENCY) as before:
        time.sleep(1)
        outage.cut()
    try:
        with Load(run.gateway.base_url, run.key, CONCURRENCY) as during:
            time.sleep(3)
            statuses = watch_status(run.gateway, seconds - 3)
    finally:
        outage.restore()
    with Load(run.gateway.base_url, run.key, CONCURRENCY) as after:
        time.sleep(1)
    whole = before.result.merge(during.result).merge(after.result)
    return Through(whole, during.result, statuses)


def assert_recorded(run: Running, result: LoadResult, disk_fault: bool = False) -> None:
    """Every answered request is a row, or counted as dropped, once ``/healthz`` settled:
    nothing pending and ``ok`` — or, with the spool's disk still full or read-only (which
    ``/healthz`` may keep reporting as ``degraded``), nothing pending."""
    until = run.gateway.drained if disk_fault else None
    settlement = settle(run.gateway, run.rows_url, result.answered, 15, until)
    dropped = counted_drops(settlement.health)
    assert len(settlement.missing) <= dropped, (
        f"{len(settlement.missing)} lost, {dropped} counted as dropped: "
        + loss_report(result, settlement)
    )
    assert settlement.settled, f"/healthz never settled: {settlement.health}"


def assert_degraded(statuses: list[str | None]) -> None:
    assert statuses, "/healthz was not sampled"
    assert all(s == "degraded" for s in statuses), f"/healthz during the outage: {statuses}"


def test_a_30s_database_outage_under_load_loses_nothing(
    start_gateway: GatewayFactory, outage: Outage
) -> None:
    run = start_gateway(outage=outage)
    warm(run)
    seen = load_through_outage(run, outage, 30)
    assert_degraded(seen.statuses)
    assert seen.whole.gateway_5xx == 0, seen.whole.statuses
    assert_recorded(run, seen.whole)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    with tmpfs(tmp_path / "spool-disk", "64k") as directory:
        yield directory


def test_spool_on_a_full_disk_during_an_outage_loses_nothing(
    start_gateway: GatewayFactory, outage: Outage, small_disk: Path
) -> None:
    run = start_gateway(outage=outage, spool_dir=small_disk / "spool")
    try:
        warm(run)
        seen = load_through_outage(run, outage, 8)
        answered = len(seen.during.answered)
        assert answered >= 100, f"the gateway stopped answering: {seen.during.statuses}"
        assert_degraded(seen.statuses)
        assert_recorded(run, seen.whole, disk_fault=True)
    finally:
        run.gateway.stop()


def test_a_read_only_spool_during_an_outage_loses_nothing(
    start_gateway: GatewayFactory, outage: Outage, small_disk: Path
) -> None:
    """The spool's filesystem is read-only from the start (a filesystem cannot be remounted
    read-only under a process that holds files open for writing, as the gateway's journal is)."""
    (small_disk / "spool").mkdir()
    remount(small_disk, "ro")
    try:
        run = start_gateway(outage=outage, spool_dir=small_disk / "spool")
        warm(run)
        seen = load_through_outage(run, outage, 8)
        answered = len(seen.during.answered)
        assert answered >= 100, f"the gateway stopped answering: {seen.during.statuses}"
        assert_degraded(seen.statuses)
        assert_recorded(run, seen.whole, disk_fault=True)
    finally:
        remount(small_disk, "rw")
