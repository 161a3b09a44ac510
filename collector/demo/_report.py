"""The demo's closing checks and summary: did every child exit cleanly, was nothing lost?

"Nothing lost" is checked from both ends: every live request the gateway answered must be a
row in ``requests`` once the gateway has exited (its recorder drains on SIGTERM), and no
batch may be left in the spool.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from rich.console import Console
from sqlalchemy import Engine

from collector.demo._console import summary
from collector.demo._database import recorded_since
from collector.demo._stack import Paths
from collector.demo._traffic import TrafficStats

_STOPPED = (0, -signal.SIGTERM)  # exit codes of a child that stopped when asked
# uvicorn finishes a graceful shutdown (lifespan closed: the recorder drained) and then
# re-raises the SIGTERM it caught, so a cleanly stopped gateway exits -15, not 0.
_DRAINED = "Application shutdown complete."


def gateway_clean(code: int | None, log: Path) -> bool:
    """Exit 0, or killed by our SIGTERM *after* its lifespan shutdown completed."""
    if code == 0:
        return True
    if code != -signal.SIGTERM or not log.exists():
        return False
    return _DRAINED in log.read_text(encoding="utf-8", errors="replace")


def _stopped_cleanly(name: str, code: int | None, logs: Path) -> bool:
    if name == "gateway":
        return gateway_clean(code, logs / "gateway.log")
    return code in _STOPPED


def _how(name: str, code: int | None) -> str:
    if code != -signal.SIGTERM:
        return f"exited {code}"
    drained = " after its recorder drained" if name == "gateway" else ""
    return f"stopped by SIGTERM{drained} (exit {code})"


def _exit_lines(
    codes: Mapping[str, int | None], logs: Path, problems: list[str]
) -> list[tuple[str, str]]:
    lines = []
    for name, code in codes.items():
        clean = _stopped_cleanly(name, code, logs)
        if not clean:
            problems.append(f"the {name} exited with code {code}")
        lines.append((name, _how(name, code) + ("" if clean else "  ← unexpected")))
    return lines


def _spooled(spool: Path) -> int:
    return sum(1 for p in spool.rglob("*") if p.is_file()) if spool.exists() else 0


def _alert_lines(paths: Paths) -> int:
    if not paths.alerts.exists():
        return 0
    return sum(1 for line in paths.alerts.read_text(encoding="utf-8").splitlines() if line)


def final_report(
    console: Console,
    engine: Engine,
    paths: Paths,
    since: datetime,
    stats: TrafficStats | None,
    exit_codes: Mapping[str, int | None],
    problems: list[str],
) -> bool:
    """Print the summary; False (with ``problems`` filled in) when a check failed."""
    lines = _exit_lines(exit_codes, paths.logs, problems)
    rec = recorded_since(engine, since)
    if stats is not None:
        lines.append(("client", f"sent {stats.sent}: ok {stats.ok}, upstream errors "
                      f"{stats.upstream_errors}, client errors {stats.client_errors}, blocked "
                      f"{stats.blocked}, unreachable {stats.unreachable}"))  # fmt: skip
        if rec.rows < stats.answered:
            problems.append(f"{stats.answered} requests answered but only {rec.rows} recorded")
    spooled = _spooled(paths.spool)
    if spooled:
        problems.append(f"{spooled} spool file(s) left in {paths.spool}: not in the database")
    lines += [
        ("recorded", f"{rec.rows} live rows ({rec.retried} retried), ${rec.spend_usd:.4f}"),
        ("alerts", f"{rec.alerts} fired; {_alert_lines(paths)} notices in {paths.alerts}"),
        ("database", f"{paths.db} (kept; the next demo run replaces it)"),
    ]
    lines += [("problem", p) for p in problems]
    summary(console, lines, ok=not problems)
    return not problems
