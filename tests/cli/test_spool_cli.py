"""``spendscope spool``: status, and quarantine list / replay after a fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from collector.cli import app
from collector.db import Request
from collector.recorder import Spool
from collector.recorder.codec import encode
from collector.recorder.events import UsageEvent, event_to_json
from collector.settings import get_settings
from tests.factories import make_event

runner = CliRunner()


@pytest.fixture
def spool(migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Spool]:
    monkeypatch.setenv("SPENDSCOPE_DATABASE_URL", migrated_url)
    monkeypatch.setenv("SPENDSCOPE_SPOOL_DIR", str(tmp_path / "spool"))
    get_settings.cache_clear()
    yield Spool(tmp_path / "spool")
    get_settings.cache_clear()


def _stored(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.scalars(select(Request.id)))


def _old_format(spool: Spool, events: list[UsageEvent]) -> None:
    """A file quarantined by an earlier version: the JSON format, an unrepaired value."""
    spool.quarantine_dir.mkdir(parents=True, exist_ok=True)
    payload = {"v": 1, "events": [event_to_json(e) for e in events]}
    (spool.quarantine_dir / "00000000000000000001-1-000000.batch.json").write_bytes(
        orjson.dumps(payload)
    )


def test_list_then_replay_after_a_fix(spool: Spool, engine: Engine) -> None:
    good, orphan = make_event(end_user="al\x00ice"), make_event(project_id=424242)
    spool.quarantine_lines([encode(good), encode(orphan)], reason="DataError: NUL in end_user")
    _old_format(spool, [make_event(model_requested="m" * 300)])
    listed = runner.invoke(app, ["spool", "quarantine", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    files = json.loads(listed.output)
    assert sorted(f["events"] for f in files) == [1, 2]
    assert any(good.id in f["request_ids"] and "NUL" in f["reason"] for f in files)

    replayed = runner.invoke(app, ["spool", "quarantine", "replay"])
    assert replayed.exit_code == 1  # one event is still refused: no such project
    assert "stored 2, already stored 0, still refused 1; 2 files cleared" in replayed.output
    assert good.id in _stored(engine) and orphan.id not in _stored(engine)
    left = spool.quarantined()
    assert len(left) == 1 and [e.id for e in spool.read(left[0]).events] == [orphan.id]


def test_status_and_bad_names(spool: Spool) -> None:
    spool.append([encode(make_event()) for _ in range(3)])
    status = runner.invoke(app, ["spool", "status", "--json"])
    assert status.exit_code == 0, status.output
    info = json.loads(status.output)
    assert (info["pending_batches"], info["pending_events"], info["quarantined_files"]) == (1, 3, 0)
    bad = runner.invoke(app, ["spool", "quarantine", "replay", "nope.batch.jsonl"])
    assert bad.exit_code == 2
    assert "not in quarantine: nope.batch.jsonl" in bad.output
    assert "Traceback" not in bad.output
    empty = runner.invoke(app, ["spool", "quarantine", "list"])
    assert empty.exit_code == 0 and "quarantine is empty" in empty.output
