"""Run ``spendscope`` as a user would, each command in a process of its own, on a database.

The commands fork from one process per test process that imported the CLI once
(``tests/support/cli_fork.py``): the same code ``python -m collector`` runs, without its ~0.7 s
of interpreter start and imports per command.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
from pathlib import Path

from tests.support.cli_fork import CliForkServer

ROOT = Path(__file__).resolve().parents[2]
_SERVER: list[CliForkServer] = []
_LOCK = threading.Lock()


def _server() -> CliForkServer:
    with _LOCK:
        if not _SERVER:
            _SERVER.append(CliForkServer())
            atexit.register(_SERVER[0].close)
        return _SERVER[0]


def spendscope(
    *args: str, database_url: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    full = base | {"SPENDSCOPE_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)} | (env or {})
    return _server().run(list(args), cwd=cwd, env=full, timeout_s=120)
