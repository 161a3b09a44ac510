"""The gateway process stays lean: no pandas, plotly or Dash (the dashboard's) in its memory,
no Redis client unless Redis is configured, no Alembic (`serve` migrates in a child), and
in the serving program nothing of the CLI or of httpx (with its rich and pygments)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from fastapi.testclient import TestClient
import collector.cli  # `spendscope serve` loads every command module first
from collector.gateway import create_app
from collector.settings import Settings

settings = Settings(database_url=sys.argv[1], spool_dir=sys.argv[2], alert_interval_s=0.05)
with TestClient(create_app(settings)) as client:  # runs the lifespan: recorder, evaluator, sweeper
    assert client.get("/healthz").status_code == 200
    import time; time.sleep(0.3)  # a few alert evaluations
heavy = ("pandas", "plotly", "dash", "numpy", "redis", "alembic")
print(sorted(m for m in heavy if m in sys.modules))
"""


def test_gateway_does_not_import_the_dashboard_stack(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'g.db'}"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url, str(tmp_path / "spool")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


SERVING = """
import sys
from collector.gateway.serving import gateway_app  # what uvicorn's factory loads in a worker

app = gateway_app()
cli = ("collector.cli", "typer", "rich", "pygments", "httpx", "pandas", "alembic")
print(sorted(m for m in cli if m in sys.modules))
"""


def test_the_serving_program_holds_no_cli_and_no_httpx(tmp_path: Path) -> None:
    env = {**os.environ, "SPENDSCOPE_DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}"}
    env["SPENDSCOPE_SPOOL_DIR"] = str(tmp_path / "spool")
    done = subprocess.run(
        [sys.executable, "-c", SERVING], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


SUPERVISOR = """
import sys
import collector.gateway.serving  # the program a supervisor of several workers runs
from uvicorn.supervisors import Multiprocess  # what it imports to supervise them
app = ("sqlalchemy", "fastapi", "pydantic", "aiohttp", "collector.admission", "collector.keys")
print(sorted(m for m in app if m in sys.modules))
"""


def test_the_supervisor_of_several_workers_holds_none_of_the_app() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SUPERVISOR], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
