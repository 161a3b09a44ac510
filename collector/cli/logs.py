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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import typer
from rich.text import Text
from sqlalchemy import Engine

from collector.cli.common import database_errors, read_engine_or_exit
from collector.cli.fmt import Cell, Col, console, money, short_id, table, table_width
from collector.requestlog import (
    AttemptRow,
    RequestWithAttempts,
    id_floor,
    recent_requests,
    request_ids_after,
    requests_by_id,
)
from collector.usage import ANSWERED_OUTCOMES

_ERROR_CHARS = 120


def _columns(layout: _Layout) -> list[Col]:
    time = "time (UTC)" if layout.day is None else f"UTC {layout.day:%m-%d}"
    cols = [Col(time), Col("id"), Col("project", flex=1), Col("model", flex=2)]
    if layout.wide:
        cols += [Col("status", justify="right"), Col("outcome"), Col("att", justify="right")]
    else:
        cols.append(Col("outcome"))
    cols += [Col("tokens", justify="right"), Col("cost $", justify="right"),
             Col("ms", justify="right"), Col("error", flex=2)]  # fmt: skip
    return cols


@dataclass(frozen=True, slots=True)
class _Filters:
    project: str | None
    errors_only: bool
    model: str | None

    def fetch(self, engine: Engine, limit: int) -> list[RequestWithAttempts]:
        return recent_requests(engine, limit=limit, project=self.project,
                               errors_only=self.errors_only, model=self.model)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Layout:
    """80 columns by default (short ids, cents, the day in the header when rows share it);
    ``wide``: every column and digit, times to the millisecond."""

    wide: bool
    exact: bool
    day: date | None = None

    def cost(self, value: Decimal | None, source: str = "") -> str:
        if value is None:
            return "unpriced" if source == "unpriced" else ""
        return money(value, exact=self.exact or self.wide)

    def error(self, kind: str | None, message: str | None) -> str:
        """Narrow: the message alone (the outcome column already says the kind)."""
        if not self.wide and message:
            kind = None
        text = ": ".join(part for part in (kind, message) if part)
        return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"

    def time(self, at: datetime) -> str:
        if self.wide:
            return f"{at:%m-%d %H:%M:%S.%f}"[:-3]
        return f"{at:%H:%M:%S}" if at.date() == self.day else f"{at:%m-%d %H:%M:%S}"


def _model(row: RequestWithAttempts) -> str:
    requested, served = row.model_requested or "?", row.model_served
    return requested if not served or served == requested else f"{requested}→{served}"


def _attempt_cells(a: AttemptRow, layout: _Layout) -> list[Cell]:
    ok = a.error_type is None and (a.http_status or 0) < 400
    verdict = Text("ok" if ok else "failed", style="" if ok else "red")
    label = f"  ↳ attempt {a.attempt_no}" if layout.wide else f"↳ try {a.attempt_no}"
    model = a.model or ""
    if a.provider != "openai":  # a try at another provider (a fallback to Claude, say)
        model = f"{model} ({a.provider})"
    cells: list[Cell] = [layout.time(a.started_at), Text(label, style="dim"), "", model]
    if layout.wide:
        cells.append(str(a.http_status or ""))
    elif not ok and a.http_status:
        verdict = Text(f"failed {a.http_status}", style="red")
    cells += [verdict, ""] if layout.wide else [verdict]
    return [*cells, f"{a.prompt_tokens}/{a.completion_tokens}", layout.cost(a.cost_usd),
            f"{a.duration_ms:.0f}", layout.error(a.error_type, a.error_message)]  # fmt: skip


def _request_cells(row: RequestWithAttempts, layout: _Layout) -> list[Cell]:
    failed = row.outcome not in ANSWERED_OUTCOMES
    cells: list[Cell] = [layout.time(row.started_at), short_id(row.id, wide=layout.wide),
                         row.project or "", _model(row)]  # fmt: skip
    outcome = Text(row.outcome, style="bold red" if failed else "green")
    if layout.wide:
        cells += [str(row.http_status or ""), outcome, str(len(row.attempts))]
    else:
        cells.append(outcome)
    return [*cells, f"{row.prompt_tokens}/{row.completion_tokens}",
            layout.cost(row.cost_usd, row.cost_source), f"{row.duration_ms:.0f}",
            layout.error(row.error_type, row.error_message)]  # fmt: skip


def _cells(rows: list[RequestWithAttempts], layout: _Layout) -> list[list[Cell]]:
    cells = []
    for row in rows:
        cells.append(_request_cells(row, layout))
        if row.outcome not in ANSWERED_OUTCOMES or len(row.attempts) > 1:
            cells.extend(_attempt_cells(attempt, layout) for attempt in row.attempts)
    return cells


def _one_day(rows: list[RequestWithAttempts]) -> date | None:
    days = {r.started_at.date() for r in rows} | {
        a.started_at.date() for r in rows for a in r.attempts
    }
    return days.pop() if len(days) == 1 else None


def _printer(as_json: bool, layout: _Layout) -> Callable[[list[RequestWithAttempts]], None]:
    out = console(wide=layout.wide)
    shown: list[_Layout] = []  # the layout whose header was printed (its day, if any)

    def emit(rows: list[RequestWithAttempts]) -> None:
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row.to_json(), ensure_ascii=False))
            return
        if not rows:
            return
        now = shown[0] if shown else replace(layout, day=None if layout.wide else _one_day(rows))
        t = table(_columns(now), _cells(rows, now), width=table_width(out, wide=layout.wide),
                  header=not shown)  # fmt: skip
        out.print(t)
        shown[:] = [now]

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
    exact: Annotated[bool, typer.Option("--exact", help="Costs to 1e-10 USD, not cents.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, whole ids, ms times, exact costs.")
    ] = False,
) -> None:
    """Recent requests with their attempts (oldest first); failures show every attempt."""
    engine = read_engine_or_exit()
    filters = _Filters(project=project, errors_only=errors, model=model)
    emit = _printer(as_json, _Layout(wide=wide, exact=exact))
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
