"""``spendscope otel``: export recorded requests to an OpenTelemetry backend (OTLP/HTTP).

``export`` sends every request not exported yet (at least once, in id order) and saves its
position in a cursor file after each accepted batch; ``--follow`` keeps polling. ``status``
shows the cursor and how many requests are pending. The OpenTelemetry SDK is imported only
when a command runs, so the CLI stays quick to start.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, runtime_checkable

import typer

from collector.cli.common import database_errors, engine_or_exit, fail, settings_or_exit
from collector.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from collector.otel import SpanBuilder, SpanSink

otel_app = typer.Typer(
    help="Export recorded requests as OpenTelemetry spans.", no_args_is_help=True
)

_RELATIVE = re.compile(r"(\d+)\s*([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, now: datetime) -> datetime:
    """``7d``, ``24h``, ``30m``, ``90s`` ago, or an ISO-8601 date or time (UTC if naive)."""
    relative = _RELATIVE.match(value.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: int(relative[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--since {value!r} must be like 24h, 7d or an ISO date such as 2026-11-01")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _upstreams(settings: Settings) -> dict[str, str]:
    return {"default": settings.upstream_base_url, **settings.upstreams}


def _sink(
    settings: Settings,
    endpoint: str | None,
    headers: list[str],
    timeout: float | None,
    dry_run: bool,
) -> tuple[SpanSink, str | None]:
    from collector.otel import OtlpSink, PrintSink, parse_headers, traces_url

    if dry_run:
        return PrintSink(typer.echo), None
    endpoint = endpoint or settings.otel_endpoint
    if not endpoint:
        fail("no endpoint: pass --endpoint http://host:4318 or set SPENDSCOPE_OTEL_ENDPOINT")
    try:
        url = traces_url(endpoint)
        configured = settings.otel_headers.get_secret_value() if settings.otel_headers else ""
        sent = parse_headers([configured, *headers])
    except ValueError as exc:
        fail(str(exc))
    return OtlpSink(url, sent, timeout or settings.otel_timeout_s), url


def export(
    endpoint: Annotated[
        str | None, typer.Option(help="OTLP/HTTP endpoint (else SPENDSCOPE_OTEL_ENDPOINT).")
    ] = None,
    headers: Annotated[
        list[str] | None, typer.Option("--headers", help="name=value sent with each export.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only requests started since: 24h, 7d or an ISO date.")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep exporting.")] = False,
    interval: Annotated[float, typer.Option(min=0.1, max=3600, help="Poll seconds.")] = 5.0,
    settle: Annotated[
        float, typer.Option(min=0, max=86400, help="Seconds a late-recorded request is awaited.")
    ] = 180.0,
    batch_size: Annotated[int, typer.Option(min=1, max=10000, help="Requests per export.")] = 500,
    timeout: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds per export (else settings).")
    ] = None,
    cursor: Annotated[
        Path | None, typer.Option(help="Cursor file (else SPENDSCOPE_OTEL_CURSOR_PATH).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print spans as JSON lines; send nothing.")
    ] = False,
    follow_seconds: Annotated[float | None, typer.Option(hidden=True, min=0)] = None,
) -> None:
    """Send requests not exported yet as OTLP spans (one per request, one per attempt)."""
    from collector.otel import CursorError, ExportFailed, SpanBuilder

    if follow and dry_run:
        fail("--dry-run prints what one run would send; it cannot be combined with --follow")
    settings = settings_or_exit()
    since_at = parse_since(since, datetime.now(UTC)) if since is not None else None
    sink, url = _sink(settings, endpoint, headers or [], timeout, dry_run)
    job = _Job(sink, SpanBuilder(_upstreams(settings)), cursor or settings.otel_cursor_path,
               url, since_at, settle, batch_size)  # fmt: skip
    engine = engine_or_exit(settings)
    deadline = None if follow_seconds is None else time.monotonic() + follow_seconds
    try:
        with database_errors():
            job.once(engine, quiet_when_idle=False, tolerate=follow)
            while follow and (deadline is None or time.monotonic() < deadline):
                time.sleep(interval)
                job.once(engine, quiet_when_idle=True, tolerate=True)
    except ExportFailed as exc:
        fail(str(exc), code=1)
    except CursorError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
        if isinstance(sink, _Closable):
            sink.close()


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Job:
    """One export configuration, run once or on every poll."""

    sink: SpanSink
    builder: SpanBuilder
    path: Path
    url: str | None
    since: datetime | None
    settle_s: float
    batch_size: int

    def once(self, engine: Engine, *, quiet_when_idle: bool, tolerate: bool) -> None:
        """Export what is pending; with ``tolerate`` a failure is a warning (the cursor stays)."""
        from collector.otel import ExportFailed, export_pending

        try:
            report = export_pending(
                engine, self.sink, self.builder, self.path, now=datetime.now(UTC),
                since=self.since, settle_s=self.settle_s, batch_size=self.batch_size,
                save=self.url is not None, endpoint=self.url,
            )  # fmt: skip
        except ExportFailed as exc:
            if not tolerate:
                raise
            typer.echo(f"warning: {exc}", err=True)
            return
        if report.requests or not quiet_when_idle:
            where = f"exported to {self.url}" if self.url else "printed"
            typer.echo(f"{where}: {report.requests} requests, {report.spans} spans", err=True)


def status(
    cursor: Annotated[
        Path | None, typer.Option(help="Cursor file (else SPENDSCOPE_OTEL_CURSOR_PATH).")
    ] = None,
) -> None:
    """Where the exporter stands: its cursor file and the requests not exported yet."""
    from collector.otel import Cursor, CursorError, pending_ids

    settings = settings_or_exit()
    path = cursor or settings.otel_cursor_path
    try:
        position = Cursor.load(path)
    except CursorError as exc:
        fail(str(exc))
    engine = engine_or_exit(settings)
    try:
        with database_errors():
            pending = len(pending_ids(engine, position, None))
    finally:
        engine.dispose()
    typer.echo(f"cursor:   {path}{'' if path.exists() else ' (not created yet)'}")
    typer.echo(f"endpoint: {position.endpoint or '-'}")
    typer.echo(f"after id: {position.after or '-'} (+{len(position.exported)} later ids sent)")
    typer.echo(f"pending:  {pending} requests")


otel_app.command("export")(export)
otel_app.command("status")(status)


def register(app: typer.Typer) -> None:
    app.add_typer(otel_app, name="otel")
