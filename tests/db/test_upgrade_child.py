"""``python -m collector.db.upgrade_child``: the migration program ``spendscope serve`` runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect


def _run(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.db.upgrade_child"],
        input=url,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upgrades_the_database_named_on_stdin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = _run(url + "\n")
    assert done.returncode == 0, done.stderr
    engine = create_engine(url)
    try:
        assert {"requests", "attempts", "alembic_version"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_failure_is_one_line_and_status_1(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory cannot be opened as a database
    done = _run(f"sqlite:///{tmp_path / 'dir.db'}")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("OperationalError: "), done.stderr
    assert "Traceback" not in done.stderr
