"""``spendscope demo`` refusals (before anything starts) and a stop by Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector.cli import app

psutil = pytest.importorskip("psutil")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ports_must_differ(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--db", str(tmp_path / "d.db"), "--gateway-port", "9001",
              "--dashboard-port", "9001"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "must differ" in result.output
    assert not (tmp_path / "d.db").exists()


def test_a_taken_port_is_named_and_nothing_is_touched(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            app, ["demo", "--headless", "--db", str(tmp_path / "d.db"), "--dashboard-port",
                  str(port), "--gateway-port", str(_free_port()), "--mock-port",
                  str(_free_port())],
        )  # fmt: skip
    assert result.exit_code == 1
    assert f"port {port} for the dashboard is already in use" in result.output
    assert "--dashboard-port" in result.output
    assert not (tmp_path / "d.db").exists()


def _children_of_demo(db: Path) -> list[int]:
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if str(db) in p.environ().get("SPENDSCOPE_DATABASE_URL", ""):
                found.append(p.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _is_writer_process(pid: int) -> bool:
    try:
        return "collector.recorder._child" in psutil.Process(pid).cmdline()
    except psutil.Error:
        return False


def test_ctrl_c_stops_every_child_in_order(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    cmd = [
        sys.executable, "-m", "collector", "demo", "--no-traffic", "--days", "1", "--headless",
        "--db", str(db), "--gateway-port", str(_free_port()), "--dashboard-port",
        str(_free_port()), "--mock-port", str(_free_port()),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    try:
        output = []
        deadline = time.monotonic() + 90
        for line in proc.stdout:
            output.append(line)
            if "Ctrl-C stops the demo" in line or time.monotonic() > deadline:
                break
        running = _children_of_demo(db)
        writers = [pid for pid in running if _is_writer_process(pid)]
        # mock upstream, gateway, dashboard, and the gateway's writer process
        assert (len(running) - len(writers), len(writers)) == (3, 1), "".join(output)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        text = "".join(output) + rest
        assert proc.returncode == 0, text
        assert re.search(r"gateway +(exited 0|stopped by SIGTERM after its recorder drained)", text)
        assert "demo stopped cleanly" in text
    finally:  # a failed check must not leave the demo (and its children) running
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert _children_of_demo(db) == []
