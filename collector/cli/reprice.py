"""``spendscope prices reprice``: recompute stored costs with today's prices."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from collector.cli.common import fail
from collector.cli.flags import count_flag, instant_flag

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from collector.pricing.reprice import RepriceWindow


def reprice_prices(
    start: Annotated[
        str | None, typer.Option(metavar="DATE", help="First day or instant, inclusive (UTC).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(metavar="DATE", help="Day or instant to stop before (UTC).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(metavar="MODEL", help="Only rows served or requested as MODEL.")
    ] = None,
    batch_size: Annotated[str, typer.Option(metavar="N", help="Rows per transaction.")] = "1000",
    dry_run: Annotated[bool, typer.Option(help="Compute and summarise; write nothing.")] = False,
    restart: Annotated[bool, typer.Option(help="Ignore a saved checkpoint.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Recompute stored costs in [start, end) with today's prices; rollups follow exactly."""
    from sqlalchemy.exc import SQLAlchemyError

    from collector.cli.common import engine_or_exit, settings_or_exit
    from collector.errors import SpendscopeError
    from collector.pricing import reprice as rp

    if start is None or end is None:
        fail("--start and --end are required")
    first, stop = instant_flag(start, "--start"), instant_flag(end, "--end")
    if stop <= first:
        fail("--end must be after --start")
    size = count_flag(batch_size, "--batch-size")
    if size < 1:
        fail("--batch-size must be at least 1")
    window = rp.RepriceWindow(first, stop, model)
    settings = settings_or_exit()
    engine = engine_or_exit(settings)
    folder = settings.spool_dir.parent
    try:
        rp.check_schema(engine)
        with _progress(engine, window) as on_batch:
            summary = rp.reprice(
                engine,
                window,
                now=datetime.now(UTC),
                batch_size=size,
                dry_run=dry_run,
                checkpoint=rp.checkpoint_for(folder, window, settings.database_url),
                restart=restart,
                on_batch=on_batch,
                regional_upstreams=settings.regional_upstreams,
            )
    except rp.SchemaOutdated as exc:
        fail(str(exc))
    except (SQLAlchemyError, SpendscopeError) as exc:
        fail(f"reprice failed: {str(exc).splitlines()[0]}", code=1)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, **summary.to_dict()}))
        return
    for line in summary.lines():
        typer.echo(line)


@contextmanager
def _progress(engine: Engine, window: RepriceWindow) -> Iterator[Callable[[Any], None] | None]:
    """A Rich progress bar on stderr when it is a terminal; nothing otherwise."""
    import sys

    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    from collector.pricing.reprice import count_rows

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("repricing", total=count_rows(engine, window))
        yield lambda summary: bar.update(task, completed=summary.scanned)
