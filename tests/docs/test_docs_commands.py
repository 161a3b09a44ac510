"""Every command the user docs show runs: each ``$ spendscope …`` line of a ```console block.

Each page gets a fresh SQLite database in a temp dir, prepared like a small installation
(schema, project ``search`` with a key, six recorded requests, a budget, the input files the
pages name). Its commands then run in page order, each in a process of its own that runs the
CLI as ``python -m collector`` does (forked from one that imported it once:
``tests/support/cli_fork.py``), and must exit 0, or the status a trailing ``# exits N`` comment
documents. ``$ export`` lines apply to the commands after them (but the database and spool stay
the prepared ones). A Python block right after ``<!-- doc-test: run -->`` runs in its place in
that order. Long-running commands (servers, ``--follow``, ``--watch``) are shown in ```bash
blocks, which may hold nothing else runnable. The webhook verifier of operators.md is checked
against a real signed delivery.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from collector.budgets import (
    DEFAULT_THRESHOLDS,
    BudgetSpec,
    Mode,
    create_budget,
    parse_period,
    parse_scope,
)
from collector.db import make_engine
from collector.recorder import AttemptEvent, UsageEvent, write_batch
from tests.factories import make_event, make_key, make_project
from tests.support.cli_fork import CliForkServer
from tests.support.templates import migrate

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("finance.md", "engineers.md", "operators.md", "sdk.md")
DOC_KEY_PREFIX = "sk-ss-Xy12AbCd"  # the prepared key's prefix, as the pages show it
RUN_MARKER = "<!-- doc-test: run -->"
VERIFIER_MARKER = "<!-- doc-test: webhook-verifier -->"
LONG_RUNNING = {"serve", "dashboard", "demo", "mock-upstream"}
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
_EXITS = re.compile(r"\s+#\s*exits\s+(\d+)\s*$")
_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
_SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">>", "2>", "2>&1"}
_TIMEOUT_S = 60
KEPT = {"SPENDSCOPE_DATABASE_URL", "SPENDSCOPE_SPOOL_DIR"}  # what a page's export cannot move

INPUT_FILES = {
    "messages.json": json.dumps(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Summarise our Q3 spend."},
        ]
    ),
    "tools.json": json.dumps(
        [
            {
                "type": "function",
                "function": {
                    "name": "get_spend",
                    "description": "Spend of a project",
                    "parameters": {
                        "type": "object",
                        "properties": {"project": {"type": "string"}},
                        "required": ["project"],
                    },
                },
            }
        ]
    ),
    # LiteLLM's model_prices_and_context_window.json, in miniature: per-token prices.
    "litellm-prices.json": json.dumps(
        {
            "sample_spec": {"input_cost_per_token": 0},
            "my-llama": {
                "litellm_provider": "openai",
                "mode": "chat",
                "input_cost_per_token": 2e-07,
                "output_cost_per_token": 8e-07,
            },
            "gpt-4o": {
                "litellm_provider": "openai",
                "mode": "chat",
                "input_cost_per_token": 2.5e-06,
                "output_cost_per_token": 1e-05,
            },
            "claude-3-haiku": {"litellm_provider": "anthropic", "input_cost_per_token": 2.5e-07},
        }
    ),
    "ana-password.txt": "correct horse battery staple\n",
    # a Chat Completions usage that wrote to the prompt cache (docs/finance.md)
    "cache-write-usage.json": json.dumps(
        {
            "prompt_tokens": 5000,
            "completion_tokens": 400,
            "total_tokens": 5400,
            "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 3072},
        }
    ),
    # a Responses answer as the API returns it (its usage is what `spendscope cost` reads)
    "response.json": json.dumps(
        {
            "object": "response",
            "model": "gpt-5-2025-08-07",
            "usage": {
                "input_tokens": 10000,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 1050,
                "output_tokens_details": {"reasoning_tokens": 512},
                "total_tokens": 11050,
            },
        }
    ),
}


@dataclass(frozen=True, slots=True)
class Step:
    """One runnable thing a page shows, where it shows it."""

    where: str
    kind: str  # "command", "export" or "python"
    text: str
    expected_status: int = 0


@dataclass(frozen=True, slots=True)
class Block:
    lang: str
    body: list[str]
    marker: str
    line_no: int


# --- reading the pages -------------------------------------------------------------------


def blocks(page: Path) -> Iterator[Block]:
    """Fenced blocks, de-indented, with the non-blank line before each (its marker)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    previous = ""
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, lang, start = len(opening[1]), opening[2], i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][indent:])
            i += 1
        assert i < len(lines), f"{page.name}:{start}: unclosed code fence"
        yield Block(lang, body, previous, start)
        previous = ""
        i += 1


def console_commands(block: Block) -> Iterator[tuple[int, str]]:
    """``$ `` lines (with ``\\`` continuations joined) and their line numbers."""
    lines = iter(enumerate(block.body))
    for offset, line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + " " + next(lines)[1].strip()
        yield block.line_no + offset + 1, command


def split_command(command: str) -> tuple[dict[str, str], list[str], int]:
    """Leading VAR=value assignments, the words, and the documented exit status."""
    status = 0
    marker = _EXITS.search(command)
    if marker is not None:
        status = int(marker[1])
        command = command[: marker.start()]
    words = shlex.split(command, comments=True)
    env: dict[str, str] = {}
    while words and _ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words, status


def page_steps(name: str) -> list[Step]:
    page = ROOT / "docs" / name
    steps: list[Step] = []
    for block in blocks(page):
        if block.lang == "console":
            for line_no, command in console_commands(block):
                _, words, status = split_command(command)
                if words and words[0] == "spendscope":
                    steps.append(Step(f"{name}:{line_no}", "command", command, status))
                elif words and words[0] == "export":
                    steps.append(Step(f"{name}:{line_no}", "export", command))
        elif block.lang == "python" and block.marker == RUN_MARKER:
            steps.append(Step(f"{name}:{block.line_no}", "python", "\n".join(block.body)))
    return steps


# --- a small installation per page -------------------------------------------------------


def seed_events(project_id: int, key_id: int) -> list[UsageEvent]:
    """Six requests of 2026-11-20: a success, an unpriced model, a cut stream (estimated),
    a success after a 429, a timeout after two failed tries, and a client error."""
    t = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    mine: dict[str, Any] = {"project_id": project_id, "api_key_id": key_id}
    rate_limited = AttemptEvent(1, t, 50.0, "gpt-4o-mini", http_status=429, error_type="rate_limit")
    served = AttemptEvent(
        2,
        t,
        80.0,
        "gpt-4o-mini",
        http_status=200,
        prompt_tokens=100,
        completion_tokens=20,
        cost_usd=Decimal("0.0000270000"),
    )
    overloaded = AttemptEvent(1, t, 50.0, "gpt-4o-mini", http_status=503, error_type="server_error")
    too_slow = AttemptEvent(2, t, 80.0, "gpt-4o-mini", error_type="timeout")
    nothing: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": Decimal(0)}
    return [
        make_event(started_at=t, end_user="alice", tags={"team": "search"}, **mine),
        make_event(
            started_at=t + timedelta(minutes=1),
            model_requested="my-llama",
            model_served="my-llama",
            cost_source="unpriced",
            cost_usd=None,
            **mine,
        ),
        make_event(
            started_at=t + timedelta(minutes=2),
            stream=True,
            ttft_ms=300.0,
            outcome="upstream_error",
            cost_source="estimated",
            error_type="upstream_stream_interrupted",
            **mine,
        ),
        make_event(started_at=t + timedelta(minutes=3), attempts=[rate_limited, served], **mine),
        make_event(
            started_at=t + timedelta(minutes=4),
            outcome="timeout",
            http_status=504,
            error_type="upstream_timeout",
            attempts=[overloaded, too_slow],
            **nothing,
            **mine,
        ),
        make_event(
            started_at=t + timedelta(minutes=5),
            outcome="client_error",
            http_status=400,
            error_type="invalid_request_error",
            **nothing,
            **mine,
        ),
    ]


def prepare(workdir: Path) -> None:
    """Schema, project ``search`` with a key, six requests, a budget, and the input files."""
    url = f"sqlite:///{workdir / 'spendscope.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        project_id = make_project(engine, "search")
        key_id = make_key(engine, project_id, prefix=DOC_KEY_PREFIX)
        assert write_batch(engine, seed_events(project_id, key_id)) == 6
        monthly = BudgetSpec(
            name="org-monthly",
            scope=parse_scope("global"),
            period=parse_period("month"),
            amount_usd=Decimal("1000"),
            mode=Mode.SOFT,
            thresholds=DEFAULT_THRESHOLDS,
        )
        create_budget(engine, monthly, datetime.now(UTC))
    finally:
        engine.dispose()
    for name, text in INPUT_FILES.items():
        (workdir / name).write_text(text, encoding="utf-8")


def environment(workdir: Path) -> dict[str, str]:
    """The process environment of a command run in ``workdir``: its database, its spool."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    return env | {
        "SPENDSCOPE_DATABASE_URL": f"sqlite:///{workdir / 'spendscope.db'}",
        "SPENDSCOPE_SPOOL_DIR": str(workdir / "spool"),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "120",
    }


def run_command(
    command: str, workdir: Path, env: dict[str, str], cli: CliForkServer
) -> subprocess.CompletedProcess[str]:
    """Run one documented ``spendscope`` line (with ``< file`` / ``> file`` redirections), in a
    process of its own forked from ``cli`` (the CLI's imports paid once per page)."""
    extra_env, words, _ = split_command(command)
    assert not _SHELL_OPERATORS & set(words), f"not a plain command: {command}"
    stdin_path = stdout_path = None
    for op in ("<", ">"):
        if op in words:
            at = words.index(op)
            path = workdir / words[at + 1]
            stdin_path, stdout_path = (path, stdout_path) if op == "<" else (stdin_path, path)
            del words[at : at + 2]
    stdin = stdin_path.read_text(encoding="utf-8") if stdin_path else ""
    done = cli.run(words[1:], cwd=workdir, env=env | extra_env, stdin=stdin, timeout_s=_TIMEOUT_S)
    if stdout_path is not None:
        stdout_path.write_text(done.stdout, encoding="utf-8")
    return done


def run_python(code: str, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = workdir / "doc_snippet.py"
    script.write_text(code + "\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )


def run_page(name: str, workdir: Path, env: dict[str, str]) -> list[str]:
    """Run a page's steps in order; one message per step that did not end as documented."""
    with CliForkServer(env) as cli:
        return _run_steps(name, workdir, env, cli)


def _run_steps(name: str, workdir: Path, env: dict[str, str], cli: CliForkServer) -> list[str]:
    failures = []
    for step in page_steps(name):
        if step.kind == "export":
            exported = dict(w.split("=", 1) for w in split_command(step.text)[1][1:])
            env = env | {k: v for k, v in exported.items() if k not in KEPT}
            continue
        if step.kind == "python":
            done = run_python(step.text, workdir, env)
        else:
            done = run_command(step.text, workdir, env, cli)
        if done.returncode != step.expected_status:
            failures.append(
                f"{step.where}: {step.text!r} exited {done.returncode}, "
                f"documented {step.expected_status}\n{done.stdout[-800:]}{done.stderr[-1500:]}"
            )
    return failures


# --- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One prepared directory (migrations are the slow part), copied for each use."""
    template = tmp_path_factory.mktemp("docs-installation")
    prepare(template)
    return template


def copy_of(installation: Path, workdir: Path) -> dict[str, str]:
    shutil.copytree(installation, workdir, dirs_exist_ok=True)
    return environment(workdir)


@pytest.fixture(scope="module")
def page_failures(
    installation: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, list[str]]:
    """Every page run at once (each in its own copy): the pages are independent."""
    dirs = {name: tmp_path_factory.mktemp(name.removesuffix(".md")) for name in PAGES}
    with ThreadPoolExecutor(max_workers=len(PAGES)) as pool:
        futures = {
            name: pool.submit(run_page, name, d, copy_of(installation, d))
            for name, d in dirs.items()
        }
        return {name: f.result() for name, f in futures.items()}


@pytest.mark.parametrize("name", PAGES)
def test_every_documented_command_runs(name: str, page_failures: dict[str, list[str]]) -> None:
    assert len(page_steps(name)) >= 4, f"{name}: too few runnable steps found"
    assert not page_failures[name], "\n\n".join(page_failures[name])


@pytest.mark.parametrize("name", PAGES)
def test_shell_commands_are_shown_only_where_they_are_checked(name: str) -> None:
    """``$ `` lines only in ```console; ```bash only for commands that never return."""
    page = ROOT / "docs" / name
    problems = []
    for block in blocks(page):
        where = f"{name}:{block.line_no}"
        if block.lang != "console" and any(line.startswith("$ ") for line in block.body):
            problems.append(f"{where}: '$ ' prompt in a ```{block.lang} block (use console)")
        if block.lang == "console":
            for line_no, command in console_commands(block):
                words = split_command(command)[1]
                if "spendscope" in words[1:]:
                    problems.append(f"{name}:{line_no}: spendscope not first, so never run")
        if block.lang != "bash":
            continue
        for line in block.body:
            _, words, _ = split_command(line.rstrip(" &"))
            if not words or words[0] != "spendscope":
                continue
            endless = words[1] in LONG_RUNNING or {"--follow", "-f", "--watch"} & set(words)
            if not endless:
                problems.append(f"{where}: {line!r} returns: show it as ```console so it runs")
    assert not problems, "\n".join(problems)


def test_a_status_marker_is_read_from_the_comment() -> None:
    env, words, status = split_command("A=1 spendscope cost --model x  # exits 3")
    assert (env, words, status) == ({"A": "1"}, ["spendscope", "cost", "--model", "x"], 3)


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Records each POST (headers, raw body) and answers 200."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _verifier() -> Any:
    page = ROOT / "docs" / "operators.md"
    found = [b for b in blocks(page) if b.lang == "python" and b.marker == VERIFIER_MARKER]
    assert len(found) == 1, "operators.md must show one webhook verifier"
    namespace: dict[str, Any] = {}
    exec("\n".join(found[0].body), namespace)
    return namespace["verify"]


def test_the_documented_webhook_verifier_accepts_a_real_delivery(
    installation: Path, tmp_path: Path
) -> None:
    verify = _verifier()
    env = copy_of(installation, tmp_path)
    engine = make_engine(env["SPENDSCOPE_DATABASE_URL"])
    try:  # today's spend crosses a tiny daily budget
        write_batch(engine, [make_event(started_at=datetime.now(UTC))])
        tiny = BudgetSpec(
            name="tiny",
            scope=parse_scope("global"),
            period=parse_period("day"),
            amount_usd=Decimal("0.00001"),
            mode=Mode.SOFT,
            thresholds=(100,),
        )
        create_budget(engine, tiny, datetime.now(UTC))
    finally:
        engine.dispose()
    _Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        add = "spendscope alerts rules add --name hook --kind budget_threshold "
        add += f"--param budget=tiny --webhook {url}"
        with CliForkServer(env) as cli:
            assert run_command(add, tmp_path, env, cli).returncode == 0
            signed = env | {"SPENDSCOPE_ALERT_WEBHOOK_SECRET": "s3cret"}
            done = run_command("spendscope alerts evaluate", tmp_path, signed, cli)
        assert done.returncode == 0, done.stderr
    finally:
        server.shutdown()
        server.server_close()
    assert len(_Receiver.received) == 1
    headers, body = _Receiver.received[0]
    timestamp, signature = headers["X-Spendscope-Timestamp"], headers["X-Spendscope-Signature"]
    assert verify("s3cret", timestamp, signature, body)
    assert not verify("wrong", timestamp, signature, body)
    assert not verify("s3cret", timestamp, signature, body.replace(b"tiny", b"tinz"))
    assert not verify("s3cret", str(int(timestamp) - 3600), signature, body)
    documented = {"event", "rule", "kind", "scope", "message", "details", "dedup_key", "at"}
    payload = json.loads(body)
    assert documented <= set(payload)
    assert payload["event"] == "alert.fired"
