"""SIGTERM drains the queue: every submitted event ends in the database or the spool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collector.db import Request
from collector.recorder import Spool
from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Request)) or 0


def _run_until_sigterm(
    engine: Engine, url: str, spool: Path, shutdown_timeout: float
) -> tuple[int, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("producer_script.py")), url, str(spool),
         str(shutdown_timeout)],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    wait_until(lambda: _stored(engine) > 1000, seconds=60, what="1000 events recorded")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    fields = dict(part.split("=") for part in out.split())
    return int(fields["submitted"]), int(fields["spooled"])


@pytest.mark.parametrize("shutdown_timeout", [10.0, 0.001])
def test_sigterm_drains_or_spools(
    engine: Engine, migrated_url: str, tmp_path: Path, shutdown_timeout: float
) -> None:
    spool_dir = tmp_path / "spool"
    submitted, _spooled = _run_until_sigterm(engine, migrated_url, spool_dir, shutdown_timeout)
    stored = _stored(engine)
    on_disk = Spool(spool_dir).pending_events()
    assert submitted > 1000
    assert stored + on_disk == submitted
    if shutdown_timeout >= 10:
        assert on_disk == 0
