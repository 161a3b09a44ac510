"""Child processes: a failed start names the service and shows its log; clean-stop rules."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from collector.demo._procs import Child, DemoError, child_env
from collector.demo._report import gateway_clean


async def test_a_child_that_dies_is_named_with_its_log_tail(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        child = Child(
            "mock upstream", ["mock-upstream", "--port", str(port)], child_env({}),
            tmp_path / "mock.log", f"http://127.0.0.1:{port}/v1/models",
        )  # fmt: skip
        child.start(tmp_path)
        with pytest.raises(DemoError) as failed:
            await child.wait_ready(30)
    message = str(failed.value)
    assert message.startswith("the mock upstream exited with code 2 before it was ready")
    assert f"cannot listen on 127.0.0.1:{port}" in message  # the log's last line
    assert child.stop() == 2


async def test_a_child_that_never_answers_times_out_by_name(tmp_path: Path) -> None:
    """A live process whose health URL never answers (it listens elsewhere)."""
    socks = [socket.socket(), socket.socket()]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    serves, probed = (s.getsockname()[1] for s in socks)
    for s in socks:
        s.close()
    child = Child(
        "dashboard", ["mock-upstream", "--port", str(serves)], child_env({}),
        tmp_path / "d.log", f"http://127.0.0.1:{probed}/login",
    )  # fmt: skip
    child.start(tmp_path)
    try:
        with pytest.raises(DemoError, match=r"^the dashboard was not ready within 2 s"):
            await child.wait_ready(2)
        assert child.exited() is None
    finally:
        assert child.stop() in (0, -signal.SIGTERM)


def test_child_env_drops_the_callers_spendscope_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_REDIS_URL", "redis://elsewhere:6379")
    env = child_env({"SPENDSCOPE_PORT": "9999"})
    assert "SPENDSCOPE_REDIS_URL" not in env
    assert env["SPENDSCOPE_PORT"] == "9999"


def test_gateway_clean_stop(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("INFO:     Waiting for application shutdown.\n")
    assert gateway_clean(0, log)
    assert not gateway_clean(-signal.SIGTERM, log)  # killed before its lifespan finished
    log.write_text("INFO:     Application shutdown complete.\n")
    assert gateway_clean(-signal.SIGTERM, log)
    assert not gateway_clean(1, log)
    assert not gateway_clean(-signal.SIGKILL, log)
