"""``spendscope serve``: one-line errors for bad flags, and a real multi-worker run."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from collector.cli import app
from collector.db import Request, make_engine, session_scope
from collector.db.migrate import at_head
from tests.gateway._support import UPSTREAM_KEY, virtual_key
from tests.support.ports import served_by


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "http"], "--port must be an integer, got 'http'"),
        (["--port", "70000"], "--port must be between 1 and 65535, got 70000"),
        (["--workers", "0"], "--workers must be between 1 and 64, got 0"),
        (["--host", " "], "--host must not be empty"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {message}"


def test_bad_upstream_settings_exit_2_before_workers_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_UPSTREAM_ROUTES", '{"gpt-*": "missing"}')
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "SPENDSCOPE_UPSTREAM_ROUTES" in result.output and len(result.output.splitlines()) == 1


def test_bad_upstream_settings_end_one_worker_with_one_line(tmp_path: Path) -> None:
    """One worker checks them as it builds its app (after the exec), before it binds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")} | {
        "SPENDSCOPE_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "SPENDSCOPE_SPOOL_DIR": str(tmp_path / "spool"),
        "SPENDSCOPE_UPSTREAM_ROUTES": '{"gpt-*": "missing"}',
    }
    command = [sys.executable, "-m", "collector", "serve", "--port", str(_free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("error: ")
        and "SPENDSCOPE_UPSTREAM_ROUTES" in lines[0]
    )


def test_bad_json_setting_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_FALLBACK_MODELS", "not json")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert (
        result.output.strip() == "error: invalid setting SPENDSCOPE_FALLBACK_MODELS: not valid JSON"
    )


def test_a_database_that_cannot_be_migrated_exits_2_with_one_line(tmp_path: Path) -> None:
    """The serving program migrates (in a child process) before it binds; its failure still
    reads as one line from ``spendscope serve``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")} | {
        "SPENDSCOPE_DATABASE_URL": f"sqlite:///{tmp_path / 'no' / 'such.db'}",
        "SPENDSCOPE_SPOOL_DIR": str(tmp_path / "spool"),
    }
    command = [sys.executable, "-m", "collector", "serve", "--port", str(_free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: database upgrade failed: OperationalError: ")
    assert "unable to open database file" in lines[0]


def test_two_workers_that_cannot_migrate_exit_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With several workers ``spendscope serve`` migrates itself, before any worker starts."""
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", f"sqlite:///{tmp_path / 'no' / 'such.db'}")
    result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert result.output.startswith("error: database upgrade failed: OperationalError: ")
    assert len(result.output.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        try:
            answer = httpx.get(url)
            if answer.status_code == 200 and served_by(proc.pid, answer.json()):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("gateway never became healthy")


def test_serve_with_two_workers_migrates_relays_and_records(
    tmp_path: Path, mock_base_url: str
) -> None:
    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "SPENDSCOPE_DATABASE_URL": db_url,
        "SPENDSCOPE_SPOOL_DIR": str(tmp_path / "spool"),
        "SPENDSCOPE_UPSTREAM_BASE_URL": mock_base_url,
        "SPENDSCOPE_UPSTREAM_API_KEY": UPSTREAM_KEY,
        "SPENDSCOPE_LOG_LEVEL": "WARNING",
    }
    for _ in range(3):  # another test's server may take the free port before ours binds it
        command = [sys.executable, "-m", "collector", "serve", "--port", str(port),
                   "--workers", "2"]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
            break
        except AssertionError as exc:
            if "Address already in use" not in str(exc):
                raise
            port = _free_port()
    else:
        raise AssertionError("three free ports were all taken before the gateway bound them")
    engine = make_engine(db_url)
    try:
        # serve became the serving program (exec: the same process, the CLI gone from memory)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[1:3] == [b"-m", b"collector.gateway.serving"]
        key = virtual_key(engine)  # the schema exists: serve migrated it
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key)
        for _ in range(4):
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    with session_scope(engine) as session:
        outcomes = list(session.scalars(select(Request.outcome)))
        total = session.scalar(select(func.count()).select_from(Request))
    engine.dispose()
    assert total == 4 and set(outcomes) == {"success"}
    assert proc.returncode == 0  # SIGINT: a clean stop


def test_a_stop_during_the_migration_never_cuts_it_short(monkeypatch: pytest.MonkeyPatch) -> None:
    """The serving program migrates before it installs its clean-exit handlers: a SIGTERM
    then ends it with the default action (status -15) while the migration child, a process of
    its own, finishes; with the handlers already in place the SIGTERM would kill the child
    mid-migration (a half-built SQLite schema) and exit 0."""
    from collector.gateway import serving

    seen: list[object] = []

    def migrate(_url: str) -> None:
        seen.extend(signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT))
        raise SystemExit(2)  # stop here: nothing is served

    monkeypatch.setattr(serving, "migrate_or_exit", migrate)
    monkeypatch.setattr(serving, "_database_url_or_exit", lambda: "sqlite://")
    before = [signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)]
    with pytest.raises(SystemExit):
        serving.main(["--host", "127.0.0.1", "--port", "1"])
    assert seen == before
    assert serving._exit_cleanly not in seen


def test_ctrl_c_during_the_migration_ends_with_one_line_and_a_whole_schema(
    tmp_path: Path,
) -> None:
    """SIGINT while the upgrade child runs: the child finishes (never killed mid-migration),
    the serving program says so in one line and ends with status 130, no traceback."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")} | {
        "SPENDSCOPE_DATABASE_URL": url,
        "SPENDSCOPE_SPOOL_DIR": str(tmp_path / "spool"),
    }
    command = [sys.executable, "-m", "collector.gateway.serving", "--host", "127.0.0.1",
               "--port", str(_free_port())]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")  # Linux
        deadline = time.monotonic() + 60
        while not children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert children.read_text().split(), "the upgrade child never started"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["spendscope: interrupted while upgrading the database"]
    assert at_head(url)  # the child finished the migration it was running


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+psycopg://u:secret-pw@127.0.0.1:notaport/db", "ValueError: invalid literal"),
        ("postgresql+psycopg2://u:secret-pw@127.0.0.1/db", "No module named 'psycopg2'"),
        ("postgresql+nosuchdrv://u:secret-pw@127.0.0.1/db", "NoSuchModuleError"),
    ],
)
def test_an_unusable_database_url_ends_the_migration_with_one_line(
    url: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL the settings accept but no engine can use: one line and status 2, the password
    masked — never a traceback from the check whether the schema is there."""
    from collector.gateway.serving import migrate_or_exit

    with pytest.raises(SystemExit) as ended:
        migrate_or_exit(url)
    assert ended.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: database upgrade failed: "), lines
    assert reason in lines[0] and "secret-pw" not in lines[0]
