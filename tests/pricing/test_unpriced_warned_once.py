"""Commands that price many stored rows warn once per unpriced model, however many rows and
batches carry it (run as a user runs them: a fresh process each, SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from collector.recorder import write_batch
from tests.factories import make_event, make_project
from tests.otel._run import spendscope

UNPRICED = ("homebrew-a", "homebrew-b", "acme-sql-coder-v2")


def _record(engine: Engine) -> None:
    project = make_project(engine, "acme")
    events = [
        make_event(project_id=project, model_requested=model, model_served=model,
                   cost_usd=None, cost_source="unpriced", tags={"team": "search"})
        for model in (*UNPRICED, "gpt-4o-mini")
        for _ in range(5)
    ]  # fmt: skip
    assert write_batch(engine, events) == len(events)


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "no price known" in line]


def test_reprice_warns_once_per_unpriced_model(
    engine: Engine, migrated_url: str, tmp_path: Path
) -> None:
    _record(engine)
    args = ("prices", "reprice", "--start", "2026-11-01", "--end", "2026-12-01")
    done = spendscope(*args, "--batch-size", "2", database_url=migrated_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(_warnings(done.stderr)) == sorted(
        f"no price known for model {model!r}; its cost is recorded as unpriced"
        for model in UNPRICED
    )


def test_reports_repeat_no_line(engine: Engine, migrated_url: str, tmp_path: Path) -> None:
    _record(engine)
    for group, fmt in (("model", "csv"), ("tag", "json"), ("project", "focus")):
        args = ("report", "--month", "2026-11", "--group-by", group, "--format", fmt)
        done = spendscope(*args, database_url=migrated_url, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == len(set(lines)), done.stderr
        assert len(_warnings(done.stderr)) <= len(UNPRICED)
