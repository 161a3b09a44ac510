"""The demo's child processes: spawn ``python -m collector <cmd>``, wait until healthy, stop.

Each child runs in its own session (a terminal's Ctrl-C reaches only the demo, which then
stops the children in order), writes stdout and stderr to its own log file, and is reported
by name with the tail of that log when it fails to start or exits early.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from collector.errors import SpendscopeError

_ROOT = Path(__file__).resolve().parents[2]  # so `-m collector` works from any cwd
_POLL_S = 0.15


class DemoError(SpendscopeError):
    """The demo cannot go on; the message says which part failed and why (one paragraph)."""


def check_port_free(name: str, host: str, port: int) -> None:
    """Fail early, naming the flag, when something already listens on ``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"failed: {exc}"
            raise DemoError(
                f"port {port} for the {name} {reason}; pick another with --{name}-port"
            ) from None


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without its SPENDSCOPE_* variables, plus the demo's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class Child:
    """One child process and how to tell that it is ready."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    health_url: str
    health_headers: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self, cwd: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(  # noqa: S603 - fixed argv from our own code (sys.executable and module paths), no shell
                [sys.executable, "-m", "collector", *self.args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=cwd, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def exited(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def failure(self, what: str) -> DemoError:
        return DemoError(
            f"the {self.name} {what}. Last lines of {self.log_path}:\n{tail(self.log_path)}"
        )

    async def wait_ready(self, timeout_s: float) -> float:
        """Poll the health URL until it answers 200; seconds taken. DemoError otherwise."""
        t0 = time.monotonic()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() - t0 < timeout_s:
                code = self.exited()
                if code is not None:
                    raise self.failure(f"exited with code {code} before it was ready")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(self.health_url, headers=self.health_headers) as r:
                        if r.status == 200:
                            return time.monotonic() - t0
                await asyncio.sleep(_POLL_S)
        raise self.failure(f"was not ready within {timeout_s:.0f} s ({self.health_url})")

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM and wait (so a gateway drains its recorder); SIGKILL the group if stuck."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        _reap_group(proc.pid)
        return proc.returncode


def _reap_group(pgid: int) -> None:
    """Kill anything the child left behind in its own process group (workers, helpers)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
