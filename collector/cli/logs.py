"""``spendscope logs``: recent requests and their attempts, for debugging failures.

``--follow`` polls by request id. Ids are ULIDs (start-time order) but rows are written when a
request *ends*, so a slow request can land after faster, later ones: each poll therefore looks
back ``--lookback`` seconds (default 180, above the default upstream read timeout) and prints
only ids it has not printed yet. A request that lasted longer than that may be missed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine

from collector.cli.common import database_errors, engine_or_exit
from collector.requestlog import (
    AttemptRow,
    RequestWithAttempts,
    id_floor,
    recent_requests,
    request_ids_after,
    requests_by_id,
)
from collector.usage import ANSWERED_OUTCOMES

_COLUMNS = ("time (UTC)", "id", "project", "model", "status", "outcome", "att", "tokens",
            "cost $", "ms", "error")  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Filters:
    project: str | None
    errors_only: bool
    model: str | None

    def fetch(self, engine: Engine, limit: int) -> list[RequestWithAttempts]:
        return recent_requests(engine, limit=limit, project=self.project,
                               errors_only=self.errors_only, model=self.model)  # fmt: skip


def _cost(value: Decimal | None, source: str = "") -> str:
    if value is None:
        return "unpriced" if source == "unpriced" else ""
    return f"{value.normalize():f}"


def _error(kind: str | None, message: str | None) -> str:
    text = ": ".join(part for part in (kind, message) if part)
    return text if len(text) <= 120 else text[:119] + "…"


def _model(row: RequestWithAttempts) -> str:
    requested, served = row.model_requested or "?", row.model_served
    return requested if not served or served == requested else f"{requested}→{served}"


def _attempt_cells(a: AttemptRow) -> list[str | Text]:
    ok = a.error_type is None and (a.http_status or 0) < 400
    return [
        "", Text(f"  ↳ attempt {a.attempt_no}", style="dim"), "", a.model or "",
        str(a.http_status or ""), Text("ok" if ok else "failed", style="" if ok else "red"),
        "", f"{a.prompt_tokens}/{a.completion_tokens}", _cost(a.cost_usd),
        f"{a.duration_ms:.0f}", _error(a.error_type, a.error_message),
    ]  # fmt: skip


def _table(rows: list[RequestWithAttempts], header: bool) -> Table:
    table = Table(*_COLUMNS, show_header=header, box=None, pad_edge=False)
    for row in rows:
        failed = row.outcome not in ANSWERED_OUTCOMES
        table.add_row(
            f"{row.started_at:%m-%d %H:%M:%S}", row.id, row.project or "", _model(row),
            str(row.http_status or ""), Text(row.outcome, style="bold red" if failed else "green"),
            str(len(row.attempts)), f"{row.prompt_tokens}/{row.completion_tokens}",
            _cost(row.cost_usd, row.cost_source), f"{row.duration_ms:.0f}",
            _error(row.error_type, row.error_message),
        )  # fmt: skip
        if failed or len(row.attempts) > 1:
            for attempt in row.attempts:
                table.add_row(*_attempt_cells(attempt))
    return table


def _printer(as_json: bool) -> Callable[[list[RequestWithAttempts]], None]:
    console = Console(soft_wrap=False)
    printed = [False]

    def emit(rows: list[RequestWithAttempts]) -> None:
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row.to_json(), ensure_ascii=False))
        elif rows:
            console.print(_table(rows, header=not printed[0]))
        printed[0] = printed[0] or bool(rows)

    return emit


class _Follower:
    """Remembers which ids were printed within the look-back window, and finds the new ones."""

    def __init__(self, engine: Engine, filters: _Filters, lookback_s: float) -> None:
        self.engine, self.filters, self.lookback_s = engine, filters, lookback_s
        self.seen: set[str] = set()
        self.newest = ""

    def mark(self, rows: list[RequestWithAttempts]) -> None:
        self.seen.update(r.id for r in rows)
        self.newest = max([self.newest, *(r.id for r in rows)])

    def poll(self) -> list[RequestWithAttempts]:
        """Rows not printed yet: ids are cheap to list; only new rows are read in full."""
        after = id_floor(datetime.now(UTC) - timedelta(seconds=self.lookback_s))
        if self.newest:
            after = min(after, self.newest)
        self.seen = {i for i in self.seen if i > after}
        f = self.filters
        ids = request_ids_after(self.engine, after, project=f.project, errors_only=f.errors_only,
                                model=f.model)  # fmt: skip
        fresh = requests_by_id(self.engine, [i for i in ids if i not in self.seen])
        self.mark(fresh)
        return fresh


def _follow_loop(
    follower: _Follower, emit: Callable[[list[RequestWithAttempts]], None],
    interval_s: float, follow_seconds: float | None,
) -> None:  # fmt: skip
    deadline = None if follow_seconds is None else time.monotonic() + follow_seconds
    while deadline is None or time.monotonic() < deadline:
        pause = interval_s if deadline is None else min(interval_s, deadline - time.monotonic())
        time.sleep(max(pause, 0.0))
        emit(follower.poll())


def logs(
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, max=1000, help="Rows.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    errors: Annotated[bool, typer.Option("--errors", help="Only outcome != success.")] = False,
    model: Annotated[str | None, typer.Option(help="Requested or served model.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Poll for new rows.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, max=60, help="Poll seconds.")] = 1.0,
    lookback: Annotated[
        float, typer.Option(min=0, max=3600, help="Seconds a poll looks back for late rows.")
    ] = 180.0,
    follow_seconds: Annotated[float | None, typer.Option(hidden=True, min=0)] = None,
) -> None:
    """Recent requests with their attempts (oldest first); failures show every attempt."""
    engine = engine_or_exit()
    filters = _Filters(project=project, errors_only=errors, model=model)
    emit = _printer(as_json)
    follower = _Follower(engine, filters, lookback)
    try:
        with database_errors():
            if follow:
                follower.poll()  # ids already in the look-back window are old news
            rows = filters.fetch(engine, limit)
            follower.mark(rows)
            if not rows and not as_json:
                typer.echo("no matching requests", err=True)
            emit(rows)
            if follow:
                _follow_loop(follower, emit, interval, follow_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
