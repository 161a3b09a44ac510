"""The processes a gateway benchmark runs: mock upstream, pass-through, spendscope, LiteLLM.

Each is its own process on 127.0.0.1 (own session, so a stop takes its children), ready once
one real completion and one stream succeed through it. Shared by ``bench_gateway.py``,
``bench_gateway_instr.py`` and ``bench_admission.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LITELLM = Path(os.environ.get("LITELLM_BIN", "/tmp/litellm-venv/bin/litellm"))
MODEL = "gpt-4o-mini"
UPSTREAM_KEY = "sk-bench-upstream"
LITELLM_KEY = "sk-bench-litellm-master"


def body(stream: bool) -> bytes:
    payload = {"model": MODEL, "max_tokens": 16, "stream": stream,
               "messages": [{"role": "user", "content": "Say hello in five words."}]}  # fmt: skip
    return json.dumps(payload).encode()


@dataclass
class Server:
    name: str
    base_url: str  # …/v1
    key: str
    proc: subprocess.Popen[bytes] | None = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=log.parent)  # fmt: skip


def post(url: str, key: str, stream: bool, timeout: float = 5.0) -> bytes:
    request = urllib.request.Request(url + "/chat/completions", data=body(stream), method="POST",
                                     headers={"content-type": "application/json",
                                              "authorization": f"Bearer {key}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


def wait_ready(server: Server, seconds: float) -> None:
    """Until one real completion (and one stream) succeeds through the server."""
    deadline, last = time.monotonic() + seconds, ""
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}")
        try:
            assert b'"usage"' in post(server.base_url, server.key, stream=False)
            assert b"[DONE]" in post(server.base_url, server.key, stream=True)
            return
        except Exception as exc:
            last = repr(exc)
            time.sleep(0.25)
    raise RuntimeError(f"{server.name} not ready after {seconds}s: {last}")


def peak_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process plus its children, in MB."""
    return sum(mb for _, mb in peak_rss_parts(pid))


def peak_rss_parts(pid: int) -> list[tuple[str, float]]:
    """Peak RSS (VmHWM, MB) of a process and of each descendant, each named by its program
    (the module after ``-m``, else the last word of its command line that is not an option:
    ``serving``, ``…_child``)."""
    parts: list[tuple[str, float]] = []
    for p in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{p}/status").read_text().splitlines()
            argv = Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        words = [w for w in argv if w and not w.startswith("-")]
        if "-m" in argv[:-1]:  # a module run as a program: its name, not its last argument
            words = [argv[argv.index("-m") + 1]]
        name = words[-1].rsplit(".", 1)[-1].rsplit("/", 1)[-1] if words else str(p)
        for line in status:
            if line.startswith("VmHWM:"):
                parts.append((name, int(line.split()[1]) / 1024))
    return parts


def _children(pid: int) -> list[int]:
    """Every descendant: each thread's children (the recorder's writer process is started
    from a worker thread, so the main thread's list alone misses it)."""
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids + [g for k in kids for g in _children(k)]


def stop(server: Server) -> None:
    if server.proc is None or server.proc.poll() is not None:
        return
    os.killpg(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)


def start_mock(work: Path) -> Server:
    port = free_port()
    argv = [str(BIN / "spendscope"), "mock-upstream", "--port", str(port), "--output-tokens", "16"]
    server = Server("direct (mock upstream)", f"http://127.0.0.1:{port}/v1", UPSTREAM_KEY)
    server.proc = spawn(argv, dict(os.environ), work / "mock.log")
    wait_ready(server, 30)
    return server


def start_passthrough(work: Path, upstream: str, kind: str) -> Server:
    port = free_port()
    argv = [sys.executable, str(ROOT / "bench" / "passthrough.py"), "--upstream", upstream,
            "--port", str(port), "--server", kind, "--api-key", UPSTREAM_KEY]  # fmt: skip
    server = Server(f"pass-through ({kind})", f"http://127.0.0.1:{port}/v1", "unused")
    server.proc = spawn(argv, dict(os.environ), work / f"passthrough-{kind}.log")
    wait_ready(server, 30)
    return server


def spendscope_env(work: Path, name: str, upstream: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    env |= {
        "SPENDSCOPE_DATABASE_URL": f"sqlite:///{work / (name + '.db')}",
        "SPENDSCOPE_SPOOL_DIR": str(work / (name + "-spool")),
        "SPENDSCOPE_UPSTREAM_BASE_URL": upstream,
        "SPENDSCOPE_UPSTREAM_API_KEY": UPSTREAM_KEY,
        "SPENDSCOPE_PORT": str(port),
        "SPENDSCOPE_LOG_LEVEL": "WARNING",
    }
    return env


def start_spendscope(
    work: Path, upstream: str, name: str, extra_env: dict[str, str], key_args: tuple[str, ...] = (),
    hard_budget_usd: str | None = None, serve_args: tuple[str, ...] = (),
) -> Server:  # fmt: skip
    """spendscope serving on a fresh SQLite database, with one key of project ``bench``
    (``key_args``: its limits) and, if given, a monthly hard budget on that project;
    ``serve_args``: more flags of ``spendscope serve`` (``--workers 2``)."""
    port = free_port()
    env = spendscope_env(work, name, upstream, port) | extra_env
    cli = str(BIN / "spendscope")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=work)
    created = subprocess.run([cli, "keys", "create", "--project", "bench", *key_args], env=env,
                             check=True, capture_output=True, text=True, cwd=work)  # fmt: skip
    if hard_budget_usd is not None:
        budget = ["budgets", "create", "--scope", "project:bench", "--period", "month",
                  "--amount-usd", hard_budget_usd, "--mode", "hard"]  # fmt: skip
        subprocess.run([cli, *budget], env=env, check=True, capture_output=True, cwd=work)
    server = Server(name, f"http://127.0.0.1:{port}/v1", created.stdout.strip())
    server.proc = spawn([cli, "serve", *serve_args], env, work / f"{name}.log")
    wait_ready(server, 60)
    return server


def start_litellm(work: Path, upstream: str) -> Server:
    port = free_port()
    config = work / "litellm.yaml"
    params = {"model": f"openai/{MODEL}", "api_base": upstream, "api_key": UPSTREAM_KEY}
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "model_list": [{"model_name": MODEL, "litellm_params": params}],
        "litellm_settings": {"turn_off_message_logging": True, "telemetry": False},
        "general_settings": {"master_key": LITELLM_KEY},  # newer proxies refuse to start without
    }))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LITELLM"))}
    env |= {"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "DISABLE_SCHEMA_UPDATE": "true"}
    argv = [str(LITELLM), "--config", str(config), "--port", str(port), "--num_workers", "1"]
    server = Server("LiteLLM proxy", f"http://127.0.0.1:{port}", LITELLM_KEY)
    server.proc = spawn(argv, env, work / "litellm.log")
    wait_ready(server, 180)
    return server


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    for unit in ("us", "ms", "s"):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * _UNITS[unit]
    return float(text) * 1000


def run_wrk(name: str, url: str, lua: str, conc: int, seconds: int) -> tuple[float, ...]:
    """(req/s, p50 ms, p99 ms, requests, errors) of one wrk run (one thread, ``conc``
    connections) posting to ``url`` as the ``lua`` script says."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    argv = ["wrk", "-t1", f"-c{conc}", f"-d{max(1, seconds)}s", "--timeout", "10s",
            "--latency", "-s", script.name, url]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    os.unlink(script.name)
    out = done.stdout
    if "Requests/sec:" not in out:
        raise RuntimeError(f"wrk against {name} failed: {done.stderr or out}"[:500])
    stats: dict[str, float] = {"errors": 0.0}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            stats["rps"] = float(parts[1])
        elif parts[:1] in (["50%"], ["99%"]):
            stats[parts[0]] = _ms(parts[1])
        elif "requests in" in line:
            stats["requests"] = float(parts[0])
        elif line.startswith(("Non-2xx", "  Socket errors")):
            stats["errors"] += sum(int(p.strip(",")) for p in parts if p.strip(",").isdigit())
    return (stats["rps"], stats["50%"], stats["99%"], stats["requests"], stats["errors"])


@dataclass
class Cell:
    """One wrk cell's result: who, json or stream, connections, and what wrk measured."""

    target: str
    mode: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
