"""Real processes for fault tests and the fault benchmark: mock upstream, gateway, load, rows.

Everything here is black-box: the gateway is ``spendscope serve`` in a process of its own
(own session), driven by the official ``openai`` SDK, watched through ``/healthz`` and judged
by the rows in ``requests``. A :class:`Launcher` says which checkout's code runs, so the
benchmark can run an older tree side by side with the same harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import openai
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support.ports import served_by
from tests.support.tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4o-mini"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-faults-upstream"
REQUEST_ID = "x-spendscope-request-id"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(check: Callable[[], bool], seconds: float, poll_s: float = 0.1) -> bool:
    """Poll ``check`` until it holds or ``seconds`` pass; whether it held."""
    deadline = time.monotonic() + seconds
    while True:
        with contextlib.suppress(Exception):
            if check():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(poll_s)


@dataclass(frozen=True)
class Launcher:
    """How to run one checkout's ``spendscope`` CLI: its interpreter and source tree."""

    python: Path = Path(sys.executable)
    tree: Path = ROOT

    @classmethod
    def for_tree(cls, tree: Path) -> Launcher:
        """That checkout's own venv if it has one, else this interpreter on its sources."""
        venv = tree / ".venv" / "bin" / "python"
        return cls(venv if venv.exists() else Path(sys.executable), tree.resolve())

    def argv(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "collector", *args]

    def env(self, settings: Mapping[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
        return base | {"PYTHONPATH": str(self.tree)} | dict(settings)


def _create_key_here(database_url: str) -> str:
    from datetime import UTC, datetime

    from collector.db import make_engine, session_scope
    from collector.keys import create_key
    from tests.support.templates import migrate

    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            made = create_key(session, project="faults", user=None, tags={}, rpm=None,
                              tpm=None, name=None, now=datetime.now(UTC))  # fmt: skip
            return made.raw_key
    finally:
        engine.dispose()


def _spawn(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a process group this harness started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


class MockUpstream:
    """``spendscope mock-upstream`` on a free port (answers 8 output tokens)."""

    def __init__(self, work: Path, launcher: Launcher | None = None, *extra: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        launcher = launcher or Launcher()
        argv = launcher.argv(
            "mock-upstream", "--port", str(self.port), "--output-tokens", "8", *extra
        )
        self.proc = _spawn(argv, launcher.env({}), work, work / "mock-upstream.log")
        body = {"model": MODEL, "messages": MESSAGES}
        auth = {"authorization": f"Bearer {UPSTREAM_KEY}"}

        def ready() -> bool:
            url = f"{self.base_url}/chat/completions"
            return httpx.post(url, json=body, headers=auth, timeout=5).status_code == 200

        if not eventually(ready, 60, 0.2):
            self.stop()
            raise RuntimeError("mock upstream did not start")

    def stop(self) -> None:
        _end_group(self.proc)


@dataclass
class Gateway:
    """``spendscope serve`` in its own session, restartable on the same database and spool."""

    work: Path
    database_url: str
    upstream: str
    spool_dir: Path
    launcher: Launcher = field(default_factory=Launcher)
    extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def settings(self) -> dict[str, str]:
        return {
            "SPENDSCOPE_DATABASE_URL": self.database_url,
            "SPENDSCOPE_SPOOL_DIR": str(self.spool_dir),
            "SPENDSCOPE_UPSTREAM_BASE_URL": self.upstream,
            "SPENDSCOPE_UPSTREAM_API_KEY": UPSTREAM_KEY,
            "SPENDSCOPE_PORT": str(self.port),
            "SPENDSCOPE_LOG_LEVEL": "WARNING",
            "SPENDSCOPE_BACKOFF_BASE_MS": "1",
            "SPENDSCOPE_BACKOFF_MAX_MS": "5",
            "SPENDSCOPE_SQLITE_BUSY_TIMEOUT_MS": "200",
            "SPENDSCOPE_SPOOL_REPLAY_INTERVAL_S": "0.5",
        } | self.extra

    def create_key(self) -> str:
        """A virtual key of project ``faults`` on a database at the newest schema. This
        checkout's code does both in this process (a migrated template, the keys API: ~2 s of
        CPU less than two CLI runs); another checkout's own CLI does it for that tree."""
        if self.launcher.tree == ROOT:
            return _create_key_here(self.database_url)
        env, cli = self.launcher.env(self.settings()), self.launcher.argv
        subprocess.run(cli("db", "upgrade"), env=env, cwd=self.work, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        made = subprocess.run(cli("keys", "create", "--project", "faults"), env=env,
                              cwd=self.work, check=True, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
        return made.stdout.strip().splitlines()[-1]

    def start(self, seconds: float = 60) -> Gateway:
        self.starts += 1
        log = self.work / f"gateway-{self.port}.log"
        env = self.launcher.env(self.settings())
        self.proc = _spawn(self.launcher.argv("serve"), env, self.work, log)
        proc = self.proc

        def ours() -> bool:  # not another test's gateway that took the port first
            health = self.health()
            return health is not None and served_by(proc.pid, health)

        if not eventually(ours, seconds, 0.1):
            self.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"gateway did not start:\n{tail}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def health(self) -> dict[str, Any] | None:
        """``/healthz`` as JSON, or None while the gateway does not answer."""
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5)
        except httpx.HTTPError:
            return None
        body = response.json()
        return body if isinstance(body, dict) else None

    def writer_pid(self) -> int:
        health = self.health()
        assert health is not None, "gateway not answering"
        return int(health["recorder"]["writer"]["pid"])

    def kill(self) -> None:
        """SIGKILL the gateway process alone (as the OOM killer would), not its children."""
        os.kill(self.pid, signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(10)

    def terminate(self, seconds: float = 45) -> int:
        """SIGTERM and wait for a clean stop; the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            _end_group(self.proc)
            return -999

    def wait_group_gone(self, seconds: float = 15) -> bool:
        """Whether every process of the gateway's session (its writer) ended by itself."""
        assert self.proc is not None
        pgid = self.proc.pid

        def gone() -> bool:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            return False

        return eventually(gone, seconds, 0.1)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.terminate(30)
        _end_group(self.proc)

    def settled(self) -> bool:
        """``/healthz`` reports recording works and nothing is waiting to be written."""
        health = self.health()
        return health is not None and pending(health) == 0 and health.get("status") == "ok"

    def drained(self) -> bool:
        """``/healthz`` reports nothing waiting to be written (it may still say ``degraded``
        for a while for what happened, e.g. a writer restarted)."""
        health = self.health()
        return health is not None and pending(health) == 0


def pending(health: Mapping[str, Any]) -> int:
    """What ``/healthz`` says is still waiting: backlog, spool files, in flight, and events
    journaled but not yet acknowledged (where the gateway keeps a journal)."""
    keys = ("recorder_backlog", "spool_pending", "in_flight")
    waiting = sum(int(health.get(key) or 0) for key in keys)
    journal = (health.get("recorder") or {}).get("journal")
    return waiting + (int(journal.get("pending") or 0) if isinstance(journal, Mapping) else 0)


# --- load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """What the client saw: requests sent, and the request ids of the answered ones."""

    sent: int = 0
    answered: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0  # connection refused/reset, timeouts: no response, so no promise

    @property
    def gateway_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def merge(self, other: LoadResult) -> LoadResult:
        return LoadResult(
            self.sent + other.sent,
            self.answered | other.answered,
            self.statuses + other.statuses,
            self.no_answer + other.no_answer,
        )


Request = dict[str, Any]


async def send(client: openai.AsyncOpenAI, result: LoadResult, request: Request) -> str | None:
    """One chat completion through the SDK; its request id if the gateway answered."""
    result.sent += 1
    try:
        raw = await client.chat.completions.with_raw_response.create(**request)
    except openai.APIStatusError as exc:
        result.statuses[exc.status_code] += 1
        rid: str | None = exc.response.headers.get(REQUEST_ID)
    except (openai.APIConnectionError, httpx.HTTPError):
        result.no_answer += 1
        return None
    else:
        result.statuses[raw.status_code] += 1
        raw.parse()
        rid = raw.headers.get(REQUEST_ID)
    if rid:
        result.answered.add(rid)
    return rid


def normal_request() -> Request:
    return {"model": MODEL, "messages": MESSAGES}


LOAD_RATE = 100.0  # requests a second, all clients together (see Load)


class Load:
    """``concurrency`` SDK clients in a thread of their own, sending until :meth:`stop`, at
    most ``rate`` requests a second together (each client waits its share between two):
    every fault meets that many requests in flight and a steady stream through it, while the
    test leaves the machine's cores to the rest of the suite. The same faults at full speed
    and for longer are ``bench/bench_faults.py``."""

    def __init__(
        self, base_url: str, key: str, concurrency: int, rate: float | None = LOAD_RATE
    ) -> None:
        self.base_url, self.key, self.concurrency = base_url, key, concurrency
        self.interval = concurrency / rate if rate else 0.0  # seconds between one client's sends
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_answered(self, count: int, timeout: float) -> None:
        """Until ``count`` requests were answered (the load is judged by them), at most
        ``timeout`` seconds: a slow machine gets there later, not never."""
        deadline = time.monotonic() + timeout
        while len(self.result.answered) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> LoadResult:
        self._stop.set()
        self._thread.join(60)
        return self.result

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency * 2)
        async with openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.key, max_retries=0, timeout=20,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        ) as client:  # fmt: skip
            await asyncio.gather(*(self._worker(client) for _ in range(self.concurrency)))

    async def _worker(self, client: openai.AsyncOpenAI) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(random.random() * self.interval)  # the clients' sends spread out
        while not self._stop.is_set():
            began = loop.time()
            if await send(client, self.result, normal_request()) is None:
                await asyncio.sleep(0.05)  # the gateway is down: do not spin
            await asyncio.sleep(max(0.0, began + self.interval - loop.time()))


# The SDK encodes bodies as UTF-8, which a lone surrogate cannot be; a client in another
# language sends the JSON escape "\\ud800" as is. These placeholders become that escape.
LONE_HIGH, LONE_LOW = "@@D800@@", "@@DFFF@@"


class _LoneSurrogates(httpx.AsyncBaseTransport):
    """Rewrites the placeholders in a request body to JSON-escaped lone surrogates."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = request.content
        if LONE_HIGH.encode() in body or LONE_LOW.encode() in body:
            body = body.replace(LONE_HIGH.encode(), b"\\ud800")
            body = body.replace(LONE_LOW.encode(), b"\\udfff")
            headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"content-length"]
            request = httpx.Request(request.method, request.url, headers=headers, content=body)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def send_each(base_url: str, key: str, requests: list[Request]) -> tuple[LoadResult, list[str]]:
    """Send requests one after another; the result and each one's request id ('' if none)."""

    async def run() -> tuple[LoadResult, list[str]]:
        result = LoadResult()
        http = openai.DefaultAsyncHttpxClient(transport=_LoneSurrogates())
        async with openai.AsyncOpenAI(
            base_url=base_url, api_key=key, max_retries=0, timeout=30, http_client=http
        ) as client:
            ids = [await send(client, result, request) or "" for request in requests]
        return result, ids

    return asyncio.run(run())


# --- rows -----------------------------------------------------------------------------------


def stored_rows(database_url: str, ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Rows of ``requests`` by id (only ``ids`` when given), read with plain SQL."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM requests")).mappings().all()
    finally:
        engine.dispose()
    found = {str(row["id"]): dict(row) for row in rows}
    return found if ids is None else {k: v for k, v in found.items() if k in ids}


def stored_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {str(r) for r in conn.execute(text("SELECT id FROM requests")).scalars()}
    finally:
        engine.dispose()


@dataclass
class Settlement:
    """After a fault: what ``/healthz`` said when it reported nothing pending, and the loss."""

    settled: bool
    seconds: float
    missing_when_settled: int
    missing: set[str]
    health: dict[str, Any] | None


def settle(
    gateway: Gateway,
    database_url: str,
    answered: set[str],
    seconds: float,
    until: Callable[[], bool] | None = None,
) -> Settlement:
    """Wait until ``/healthz`` reports nothing pending and ``ok`` (or ``until`` holds, or
    ``seconds`` pass), then count the loss.

    Rows missing at that moment are recorded (a health that says ``ok`` too early is a
    failure of its own); a short grace then tells a late row from a lost one.
    """
    start = time.monotonic()
    settled = eventually(until or gateway.settled, seconds, 0.2)
    took = time.monotonic() - start
    health = gateway.health()
    missing_then = answered - stored_ids(database_url)
    if missing_then:
        eventually(lambda: not answered - stored_ids(database_url), 3, 0.3)
    return Settlement(settled, took, len(missing_then), answered - stored_ids(database_url), health)


def loss_report(result: LoadResult, settlement: Settlement) -> str:
    return (
        f"sent {result.sent}, answered {len(result.answered)}, statuses {dict(result.statuses)},"
        f" lost {len(settlement.missing)} (e.g. {sorted(settlement.missing)[:3]}),"
        f" healthz settled={settlement.settled}: {json.dumps(settlement.health)}"
    )


# --- database outages -------------------------------------------------------------------------


class Outage:
    """Make the database unwritable for the gateway and restore it.

    PostgreSQL: the gateway's URL goes through a :class:`TcpProxy`, which is cut.
    SQLite: a connection holds ``BEGIN EXCLUSIVE``, so every write fails as "locked".
    """

    def __init__(self, database_url: str) -> None:
        self.direct_url = database_url
        url = make_url(database_url)
        self.sqlite_path = url.database if url.get_backend_name() == "sqlite" else None
        self._lock: sqlite3.Connection | None = None
        self._proxy: TcpProxy | None = None
        self._down = False
        self.gateway_url = database_url
        if self.sqlite_path is None:
            self._proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
            self._proxy.start()
            proxied = url.set(host="127.0.0.1", port=self._proxy.port)
            self.gateway_url = proxied.render_as_string(hide_password=False)

    def cut(self) -> None:
        self._down = True
        if self._proxy is not None:
            self._proxy.cut()
            return
        assert self.sqlite_path is not None
        self._lock = sqlite3.connect(self.sqlite_path, isolation_level=None, timeout=30)
        self._lock.execute("BEGIN EXCLUSIVE")

    def restore(self) -> None:
        if not self._down:
            return
        self._down = False
        if self._proxy is not None:
            self._proxy.start()
        if self._lock is not None:
            self._lock.execute("ROLLBACK")
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        self.restore()
        if self._proxy is not None:
            self._proxy.close()


@contextlib.contextmanager
def tmpfs(directory: Path, size: str = "64k") -> Iterator[Path]:
    """A small tmpfs mounted at ``directory`` (root only), unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield directory
    finally:
        done = subprocess.run(["umount", str(directory)], capture_output=True)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], capture_output=True)


def remount(directory: Path, mode: str) -> None:
    """Remount the tmpfs at ``directory`` ``ro`` or ``rw``."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True,
                   capture_output=True)  # fmt: skip


def watch_status(gateway: Gateway, seconds: float, every: float = 1.0) -> list[str | None]:
    """``/healthz`` status sampled every ``every`` seconds for ``seconds`` (None: no answer)."""
    seen: list[str | None] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        health = gateway.health()
        seen.append(None if health is None else str(health.get("status")))
        time.sleep(min(every, max(0.0, deadline - time.monotonic())))
    return seen


def counted_drops(health: Mapping[str, Any] | None) -> int:
    """Events ``/healthz`` admits to have dropped: every number under a key naming a drop."""
    if health is None:
        return 0
    total = 0
    for key, value in health.items():
        if isinstance(value, Mapping):
            total += counted_drops(value)
        elif "drop" in key.lower() and isinstance(value, int | float):
            total += int(value)
    return total


@dataclass
class Running:
    """A started gateway, the key its clients use, and the URL rows are counted in."""

    gateway: Gateway
    key: str
    rows_url: str


class GatewayFactory(Protocol):
    """The ``start_gateway`` fixture: a gateway on the test's database (through ``outage``'s
    proxy when given), with ``SPENDSCOPE_<NAME>`` settings from keyword arguments."""

    def __call__(
        self, outage: Outage | None = None, spool_dir: Path | None = None, **settings: str
    ) -> Running: ...
