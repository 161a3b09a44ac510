"""At-least-once export from a durable cursor: resume after failures, no duplicates after
success, late-recorded rows, and one-line errors. Rows are written through the recorder."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from collector.otel import Cursor
from collector.recorder import write_batch
from collector.requestlog import id_floor
from collector.ulid import ALPHABET
from tests.factories import make_event, make_project
from tests.otel._receiver import Receiver
from tests.otel._run import ROOT
from tests.otel._run import spendscope as run


def _id_at(moment: datetime) -> str:
    """A request id of a request that started at ``moment``."""
    return id_floor(moment)[:10] + "".join(secrets.choice(ALPHABET) for _ in range(16))


def _record(engine: Engine, n: int, **options: object) -> list[str]:
    project = make_project(engine, f"p-{secrets.token_hex(3)}")
    events = [make_event(project_id=project, **options) for _ in range(n)]
    assert write_batch(engine, events) == n
    return sorted(e.id for e in events)


def _exported(receiver: Receiver) -> list[str]:
    return [str(s.attributes["spendscope.request_id"]) for s in receiver.requests()]


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_a_failed_batch_is_resent_and_nothing_twice(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    ids = _record(engine, 5)
    receiver.accept_batches = 1  # the second batch is refused (503, after retries)
    args = ("otel", "export", "--endpoint", receiver.url, "--batch-size", "2", "--timeout", "1")
    first = run(*args, database_url=migrated_url, cwd=tmp_path)
    assert first.returncode == 1
    line = _one_line(first.stderr)
    assert line.startswith("error: could not export to") and "3 requests not exported" in line
    assert _exported(receiver) == ids[:2]
    cursor = Cursor.load(tmp_path / ".spendscope" / "otel-cursor.json")
    assert cursor.exported == set(ids[:2]) and cursor.after < ids[0]
    receiver.accept_batches = None  # the endpoint is back: a restart resumes where it stopped
    second = run(*args, database_url=migrated_url, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert _exported(receiver) == ids
    third = run(*args, database_url=migrated_url, cwd=tmp_path)
    assert third.returncode == 0 and "0 requests, 0 spans" in third.stderr
    assert _exported(receiver) == ids  # no duplicates


def test_an_unreachable_endpoint_is_one_line_and_moves_nothing(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    ids = _record(engine, 2)
    closed = "http://127.0.0.1:9"  # discard port: nothing listens
    done = run(
        "otel",
        "export",
        "--endpoint",
        closed,
        "--timeout",
        "1",
        database_url=migrated_url,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "connection failed" in _one_line(done.stderr)
    assert not (tmp_path / ".spendscope" / "otel-cursor.json").exists()
    status = run("otel", "status", database_url=migrated_url, cwd=tmp_path)
    assert status.returncode == 0 and f"pending:  {len(ids)} requests" in status.stdout


def test_a_refusing_endpoint_names_the_status(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    _record(engine, 1)
    receiver.fail_with = 400
    done = run(
        "otel", "export", "--endpoint", receiver.url, database_url=migrated_url, cwd=tmp_path
    )
    assert done.returncode == 1 and "HTTP 400" in _one_line(done.stderr)
    assert len(receiver.posts) == 1  # a 400 is not retried


def test_a_request_recorded_late_is_still_exported(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    newer = _record(engine, 2)
    args = ("otel", "export", "--endpoint", receiver.url)
    assert run(*args, database_url=migrated_url, cwd=tmp_path).returncode == 0
    # a request that started before those two but ended (and was recorded) after the export
    late = _id_at(datetime.now(UTC) - timedelta(seconds=30))
    assert late < newer[0]
    project = make_project(engine, "late")
    write_batch(engine, [make_event(id=late, project_id=project)])
    assert run(*args, database_url=migrated_url, cwd=tmp_path).returncode == 0
    assert _exported(receiver) == [*newer, late]


def test_the_cursor_settles_and_forgets_old_ids(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    ids = _record(engine, 3)
    cursor_path = tmp_path / "cursor.json"
    args = (
        "otel",
        "export",
        "--endpoint",
        receiver.url,
        "--settle",
        "0",
        "--cursor",
        str(cursor_path),
    )
    time.sleep(0.01)
    assert run(*args, database_url=migrated_url, cwd=tmp_path).returncode == 0
    cursor = Cursor.load(cursor_path)
    assert cursor.after > ids[-1] and cursor.exported == set()
    assert cursor.endpoint == f"{receiver.url}/v1/traces"
    more = _record(engine, 1)
    assert run(*args, database_url=migrated_url, cwd=tmp_path).returncode == 0
    assert _exported(receiver) == [*ids, *more]


def test_since_skips_older_requests(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    project = make_project(engine, "history")
    old = _id_at(datetime.now(UTC) - timedelta(days=3))
    write_batch(engine, [make_event(id=old, project_id=project)])
    recent = _record(engine, 1)
    done = run(
        "otel",
        "export",
        "--endpoint",
        receiver.url,
        "--since",
        "1d",
        database_url=migrated_url,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert _exported(receiver) == recent


def test_headers_and_the_endpoint_setting_are_used(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    _record(engine, 1)
    env = {"SPENDSCOPE_OTEL_ENDPOINT": receiver.url, "SPENDSCOPE_OTEL_HEADERS": "x-team=obs"}
    done = run(
        "otel",
        "export",
        "--headers",
        "authorization=Bearer t0k,x-extra=1",
        database_url=migrated_url,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    ((path, headers),) = receiver.posts
    lowered = {k.lower(): v for k, v in headers.items()}
    assert path == "/v1/traces"
    assert (lowered["x-team"], lowered["authorization"], lowered["x-extra"]) == (
        "obs",
        "Bearer t0k",
        "1",
    )
    assert lowered["content-type"] == "application/x-protobuf"


def test_dry_run_prints_spans_and_keeps_no_cursor(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    (request_id,) = _record(engine, 1, tags={"team": "search"})
    done = run("otel", "export", "--dry-run", database_url=migrated_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    spans = [json.loads(line) for line in done.stdout.splitlines()]
    assert [s["kind"] for s in spans] == ["CLIENT", "SERVER"]
    assert spans[1]["attributes"]["spendscope.request_id"] == request_id
    assert spans[1]["attributes"]["spendscope.tags.team"] == "search"
    assert spans[1]["attributes"]["spendscope.cost_usd"] == "0.0000270000"
    assert not (tmp_path / ".spendscope").exists()


def test_follow_exports_new_requests_as_they_are_recorded(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    first = _record(engine, 1)
    env = {"SPENDSCOPE_DATABASE_URL": migrated_url, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "collector",
        "otel",
        "export",
        "--endpoint",
        receiver.url,
        "--follow",
        "--interval",
        "0.2",
        "--follow-seconds",
        "4",
    ]
    with subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) as p:
        deadline = time.monotonic() + 30
        while not _exported(receiver) and time.monotonic() < deadline:
            time.sleep(0.05)
        later = _record(engine, 2)
        while len(_exported(receiver)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        _, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    assert _exported(receiver) == [*first, *later]


def test_follow_survives_an_endpoint_outage(
    engine: Engine, migrated_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    ids = _record(engine, 2)
    receiver.fail_with = 400
    env = {"SPENDSCOPE_DATABASE_URL": migrated_url, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "collector", "otel", "export", "--endpoint", receiver.url,
               "--follow", "--interval", "0.2", "--follow-seconds", "3"]  # fmt: skip
    with subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True) as p:
        deadline = time.monotonic() + 30
        while not receiver.posts and time.monotonic() < deadline:
            time.sleep(0.05)
        receiver.fail_with = None
        _, stderr = p.communicate(timeout=30)
    assert p.returncode == 0, stderr
    assert "warning: could not export" in stderr and "Traceback" not in stderr
    assert _exported(receiver) == ids


def test_a_retry_cut_short_by_the_deadline_still_names_the_connection_error() -> None:
    """Under load the exporter's last try can start with no time left; its zero-timeout error
    says nothing, so the one line names the refused connection the earlier try logged."""
    from collector.otel._export import _reason

    refused = (
        "Transient error HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded "
        "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to "
        "establish a new connection: [Errno 111] Connection refused')) encountered while "
        "exporting span batch, retrying in 0.80s."
    )
    zero = (
        "Attempted to set connect timeout to 0.0, but the timeout cannot be set to a value "
        "less than or equal to 0."
    )
    failed = f"Failed to export span batch code: None, reason: {zero}"
    assert _reason([refused, failed, zero]) == "connection failed: [Errno 111] Connection refused"
    assert _reason([failed, zero]) == zero[:200]  # no cause anywhere: the last line, as is
