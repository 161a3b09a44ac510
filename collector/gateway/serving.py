"""The serving program: ``python -m collector.gateway.serving`` runs uvicorn on the gateway.

``spendscope serve`` checks the flags and the settings and then replaces itself (``exec``)
with this program, so a serving process holds the gateway and nothing of the CLI
(typer, click's help, rich and every command module: ~4 MB that each worker would carry).
The process id stays the same, so whatever started ``spendscope serve`` still supervises it.
Workers are separate processes built by the import-string factory
``collector.gateway.serving:gateway_app``; each reads the same ``SPENDSCOPE_*`` settings.
SIGHUP re-reads the upstream key settings in every worker: one worker handles it itself; with
several, the supervisor passes it on to each (uvicorn's own answer, replacing the workers one
by one, waits for each old worker's connections to close, which a busy gateway never does).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from fastapi import FastAPI

FACTORY = "collector.gateway.serving:gateway_app"
# uvicorn's httptools protocol, each response's head written with its body (``_http``)
HTTP_PROTOCOL = "collector.gateway._http:HeadWithBodyProtocol"
# Young-generation threshold of a serving worker (CPython's default is 700): a request
# allocates a few hundred container objects, so the default collected every few requests.
_GC_GEN0_THRESHOLD = 50_000


def argv(host: str, port: int, workers: int, log_level: str) -> list[str]:
    """This program's arguments (after ``python -m collector.gateway.serving``)."""
    return [
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        log_level,
    ]


def main(args: list[str] | None = None) -> None:
    """Serve until SIGTERM/SIGINT (arguments already checked by ``spendscope serve``)."""
    parser = argparse.ArgumentParser(prog="python -m collector.gateway.serving")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    opts = parser.parse_args(args)
    if opts.workers <= 1:  # (several workers: ``spendscope serve`` migrated already)
        # Before the handlers below: a SIGTERM now ends this process as it would have ended
        # the CLI (status -15), and the migration child finishes on its own, never cut short.
        migrate_or_exit(_database_url_or_exit())
    import uvicorn

    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown (recorder drained); with
    # this handler in place that re-raise ends the process with status 0, as a clean stop should.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    options: dict[str, Any] = {
        "factory": True, "host": opts.host, "port": opts.port, "workers": opts.workers,
        "loop": "uvloop", "http": HTTP_PROTOCOL, "lifespan": "on", "log_level": opts.log_level,
        "access_log": False, "server_header": False,
    }  # fmt: skip
    banner = f"spendscope gateway on http://{opts.host}:{opts.port}/v1 ({opts.workers} worker(s))"
    if opts.workers <= 1:  # (several workers: ``spendscope serve`` checked them already)
        app = _app_or_exit()  # bad settings: one line and status 2, before the port is bound
        print(banner, file=sys.stderr, flush=True)
        uvicorn.run(app, **options | {"factory": False})
        return
    print(banner, file=sys.stderr, flush=True)
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        def handle_hup(self) -> None:
            for process in self.processes:
                if process.pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(process.pid, signal.SIGHUP)

    config = uvicorn.Config(FACTORY, **options)
    Supervisor(config, sockets=[config.bind_socket()]).run()


def gateway_app() -> FastAPI:
    """One worker's gateway (the import-string factory uvicorn calls in every worker)."""
    from collector.gateway import create_app

    app = create_app()
    tune_gc()
    return app


def migrate_or_exit(database_url: str) -> None:
    """``alembic upgrade head`` in a child process (``collector.db.upgrade_child``: the URL on
    its standard input, never in its arguments, and Alembic's ~13 MB never in a gateway's
    memory) unless the database carries the newest schema already; when it fails, its last
    line as ``error: database upgrade failed: …`` on stderr and status 2."""
    from collector.db.migrate import at_head

    if at_head(database_url):
        return
    # Ctrl-C meanwhile is noted, not raised: the migration is never killed (a terminal's
    # SIGINT reaches the child too, which rolls its migration back; otherwise it finishes)
    interrupted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda sig, _frame: interrupted.append(sig))
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "collector.db.upgrade_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _, stderr = child.communicate(database_url)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler if previous is None else previous)
    if interrupted:
        print("spendscope: interrupted while upgrading the database", file=sys.stderr)
        raise SystemExit(130)
    if child.returncode != 0:
        reason = (stderr.strip().splitlines() or [f"status {child.returncode}"])[-1]
        _exit_with(f"database upgrade failed: {reason}")


def _database_url_or_exit() -> str:
    from collector.errors import SettingsError
    from collector.settings import get_settings

    try:
        return get_settings().database_url
    except SettingsError as exc:
        _exit_with(str(exc))


def _app_or_exit() -> FastAPI:
    """The one worker's app; settings that do not fit together end the program as
    ``spendscope serve`` does: ``error: <one line>`` on stderr, status 2."""
    from collector.errors import SettingsError

    try:
        return gateway_app()
    except SettingsError as exc:
        _exit_with(str(exc))


def _exit_with(message: str) -> NoReturn:
    """``error: <one line>`` on stderr (URL passwords masked), status 2: as the CLI ends."""
    from collector.secrets import mask_urls

    print(f"error: {mask_urls(message)}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def tune_gc() -> None:
    """Keep the cycle collector off the request path of a long-lived server.

    Everything loaded so far (SQLAlchemy, pydantic, the app) is frozen out of collections,
    and young objects are collected less often: measured, the collector's passes over the
    heap were ~10 % of a busy worker's CPU. Reference counting still frees almost all
    per-request garbage at once; only cycles wait for the (cheaper, rarer) passes.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(_GC_GEN0_THRESHOLD, gen1, gen2)


def _exit_cleanly(_sig: int, _frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    main()
