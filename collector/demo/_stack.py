"""The three services of the demo as child processes, configured only by SPENDSCOPE_* variables.

mock upstream (the fake OpenAI, with the demo's fault scenario and a bill with planted bypass
spend) ← gateway (records to the demo database) ; dashboard (reads it, behind a login, and
the bill the demo fetched from the mock). Started together, stopped in order: the
gateway first (SIGTERM, so its recorder drains), then the dashboard, then the mock.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from collector.demo._bill import ADMIN_KEY, BYPASS_TOKENS, bill_settings
from collector.demo._procs import Child, DemoError, child_env

SCENARIO = Path(__file__).with_name("scenario.yaml")
UPSTREAM_KEY = "sk-demo-upstream-" + "0" * 16  # held by the gateway only; the mock demands it
DEMO_USER = "demo"
HOST = "127.0.0.1"
READY_S = {"mock upstream": 30.0, "gateway": 45.0, "dashboard": 90.0}


@dataclass(frozen=True, slots=True)
class Ports:
    gateway: int
    dashboard: int
    mock: int


@dataclass(frozen=True, slots=True)
class Paths:
    """Everything the demo writes sits beside its database file."""

    db: Path
    spool: Path
    logs: Path
    alerts: Path

    @classmethod
    def beside(cls, db: Path) -> Paths:
        db = db.expanduser().resolve()
        stem = db.with_suffix("")
        return cls(db, Path(f"{stem}.spool"), Path(f"{stem}.logs"), Path(f"{stem}-alerts.jsonl"))

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"


def _common(paths: Paths) -> dict[str, str]:
    return {
        "SPENDSCOPE_DATABASE_URL": paths.url,
        "SPENDSCOPE_SPOOL_DIR": str(paths.spool),
        "SPENDSCOPE_LOG_LEVEL": "INFO",
    }


def _bill_env(ports: Ports) -> dict[str, str]:
    """The mock's admin APIs and the gateway's key id there (reconciliation, dashboard)."""
    values = bill_settings(f"http://{HOST}:{ports.mock}/v1", UPSTREAM_KEY)
    return {f"SPENDSCOPE_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
            for k, v in values.items()}  # fmt: skip


def mock_child(ports: Ports, paths: Paths) -> Child:
    args = [
        "mock-upstream", "--host", HOST, "--port", str(ports.mock), "--scenario", str(SCENARIO),
        "--tokens-per-s", "250", "--timeout-fault-s", "4", "--require-key", UPSTREAM_KEY,
        "--admin-key", ADMIN_KEY, "--bill-bypass-tokens", str(BYPASS_TOKENS),
    ]  # fmt: skip
    return Child(
        "mock upstream", args, child_env(_common(paths)), paths.logs / "mock-upstream.log",
        f"http://{HOST}:{ports.mock}/v1/models", {"Authorization": f"Bearer {UPSTREAM_KEY}"},
    )  # fmt: skip


def gateway_child(ports: Ports, paths: Paths) -> Child:
    env = _common(paths) | {
        "SPENDSCOPE_HOST": HOST,
        "SPENDSCOPE_PORT": str(ports.gateway),
        "SPENDSCOPE_UPSTREAM_BASE_URL": f"http://{HOST}:{ports.mock}/v1",
        "SPENDSCOPE_UPSTREAM_API_KEY": UPSTREAM_KEY,
        "SPENDSCOPE_READ_TIMEOUT_S": "2",  # the scenario's timeout faults stall 4 s
        "SPENDSCOPE_BACKOFF_BASE_MS": "100",
        "SPENDSCOPE_FALLBACK_MODELS": '{"gpt-4o": ["gpt-4o-mini"]}',
        "SPENDSCOPE_BUDGET_CACHE_TTL_S": "2",
        "SPENDSCOPE_ALERT_INTERVAL_S": "5",
    }
    return Child(
        "gateway", ["serve"], child_env(env), paths.logs / "gateway.log",
        f"http://{HOST}:{ports.gateway}/healthz",
    )  # fmt: skip


def dashboard_child(ports: Ports, paths: Paths, users: str) -> Child:
    env = _common(paths) | {
        "SPENDSCOPE_DASHBOARD_HOST": HOST,
        "SPENDSCOPE_DASHBOARD_PORT": str(ports.dashboard),
        "SPENDSCOPE_DASHBOARD_USERS": users,
        "SPENDSCOPE_DASHBOARD_SECRET_KEY": secrets.token_urlsafe(48),
        **_bill_env(ports),
    }
    return Child(
        "dashboard", ["dashboard"], child_env(env), paths.logs / "dashboard.log",
        f"http://{HOST}:{ports.dashboard}/login",
    )  # fmt: skip


async def dashboard_login(password: str, paths: Paths) -> str:
    """``name:role:hash`` for the demo user, from ``spendscope dashboard hash-password``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector", "dashboard", "hash-password",
        "--user", DEMO_USER, "--role", "admin", "--password-stdin",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=child_env(_common(paths)), cwd=paths.logs,
    )  # fmt: skip
    out, err = await proc.communicate(password.encode() + b"\n")
    entry = out.decode().strip()
    if proc.returncode != 0 or not entry.startswith(f"{DEMO_USER}:admin:"):
        detail = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise DemoError(f"could not hash the dashboard password: {detail or proc.returncode}")
    return entry


@dataclass
class Stack:
    """The running children, in stop order."""

    children: list[Child] = field(default_factory=list)
    exit_codes: dict[str, int | None] = field(default_factory=dict)

    def start(self, child: Child, cwd: Path) -> Child:
        child.start(cwd)
        self.children.append(child)
        return child

    async def stop_all(self) -> None:
        """Gateway, dashboard, mock — each waited for before the next, so nothing orphans."""
        order = {"gateway": 0, "dashboard": 1, "mock upstream": 2}
        for child in sorted(self.children, key=lambda c: order.get(c.name, 9)):
            self.exit_codes[child.name] = await asyncio.to_thread(child.stop)
        self.children.clear()
