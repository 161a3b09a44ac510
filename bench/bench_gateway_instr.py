"""Gateway cost in CPU instructions per request (callgrind), immune to a busy machine.

Run: .venv/bin/python bench/bench_gateway_instr.py [--requests N] [--concurrency C]
        [--variant NAME=TREE]...
``spendscope serve`` (recording to SQLite on) runs under ``valgrind --tool=callgrind`` with
instrumentation off; the mock upstream and the client run natively. After a warm-up, the
count is switched on (``callgrind_control``) for N non-streamed requests, then for N streamed
ones, each segment ending once the recorder has written every request of it (``/healthz``),
so the count holds the whole process — event loop and recorder thread — per request. A
``--variant`` runs another source tree the same way: the table compares code, not machines
(wall-clock rates on the shared 2-core machine swing by 30 %; these counts repeat to ~1 %).
Instructions are not time (syscalls, cache misses): confirm a win with ``bench_gateway.py``.
Needs Debian's ``valgrind``. About 2 minutes a row.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _servers import BIN, body, free_port, spawn, start_mock, stop
from bench_recorder_instr import _variant

_TOTALS = re.compile(r"^totals: (\d+)", re.MULTILINE)


def _client(port: int, key: str, stream: bool, count: int) -> None:
    """``count`` requests over one keep-alive connection; every answer must be a 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    payload = body(stream)
    for _ in range(count):
        conn.request("POST", "/v1/chat/completions", payload, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"gateway answered {response.status}")
    conn.close()


def _load(port: int, key: str, stream: bool, total: int, concurrency: int) -> None:
    share = [total // concurrency + (i < total % concurrency) for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        for done in [pool.submit(_client, port, key, stream, n) for n in share]:
            done.result()


def _health(port: int) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", "/healthz")
    recorder: dict[str, int] = json.loads(conn.getresponse().read())["recorder"]
    conn.close()
    return recorder


def _drained(port: int, seconds: float = 600) -> None:
    """Until the recorder has written everything submitted so far."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stats = _health(port)
        if stats["written"] + stats["spooled"] >= stats["submitted"]:
            return
        time.sleep(0.5)
    raise RuntimeError("the recorder did not catch up")


def _ready(port: int, key: str, proc: subprocess.Popen[bytes], seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}")
        try:
            _client(port, key, False, 1)
            return
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(1)
    raise RuntimeError("gateway not ready")


def _segment(pid: int, out: Path, run: Callable[[], None]) -> tuple[int, int]:
    """Instructions of (the event loop's thread, the whole process) while ``run`` runs."""
    control = ["callgrind_control"]
    subprocess.run([*control, "-z", str(pid)], check=True, capture_output=True)
    subprocess.run([*control, "-i", "on", str(pid)], check=True, capture_output=True)
    run()
    subprocess.run([*control, "-i", "off", str(pid)], check=True, capture_output=True)
    before = set(out.parent.glob(out.name + "*"))
    subprocess.run([*control, "-d", str(pid)], check=True, capture_output=True)
    time.sleep(1.0)  # callgrind writes one file per thread
    for _ in range(100):
        totals = {p.name: _TOTALS.search(p.read_text()) for p in out.parent.glob(out.name + "*")}
        totals = {k: v for k, v in totals.items() if k not in {p.name for p in before}}
        if totals and all(totals.values()):
            counts = {k: int(v.group(1)) for k, v in totals.items() if v}
            main = [v for k, v in counts.items() if k.endswith("-01")]
            return main[0] if main else 0, sum(counts.values())
        time.sleep(0.2)
    raise RuntimeError("callgrind dump not found")


def measure(tree: str, args: argparse.Namespace, mock_url: str, work: Path) -> dict[str, float]:
    """Instructions per request (json, stream) for ``tree``'s gateway."""
    name = f"gw-{len(list(work.glob('gw-*.log')))}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDSCOPE_")}
    env |= {
        "PYTHONPATH": tree,
        "SPENDSCOPE_DATABASE_URL": f"sqlite:///{work / (name + '.db')}",
        "SPENDSCOPE_SPOOL_DIR": str(work / (name + "-spool")),
        "SPENDSCOPE_UPSTREAM_BASE_URL": mock_url,
        "SPENDSCOPE_UPSTREAM_API_KEY": "sk-bench-upstream",
        "SPENDSCOPE_PORT": str(port),
        "SPENDSCOPE_LOG_LEVEL": "WARNING",
    }
    cli = str(BIN / "spendscope")
    subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tree)
    key = subprocess.run([cli, "keys", "create", "--project", "bench"], env=env, check=True,
                         capture_output=True, text=True, cwd=tree).stdout.strip()  # fmt: skip
    out = work / f"{name}.callgrind"
    # ``serve`` execs the serving program, which valgrind would not follow: run that program
    # itself where the tree has one (trees before it ran the gateway inside ``serve``)
    program = [cli, "serve"]
    if (Path(tree) / "collector" / "gateway" / "serving.py").exists():
        program = ["-m", "collector.gateway.serving", "--host", "127.0.0.1", "--port", str(port),
                   "--workers", "1", "--log-level", "warning"]  # fmt: skip
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
            f"--callgrind-out-file={out}", sys.executable, *program]  # fmt: skip
    proc = spawn(argv, env, work / f"{name}.log")
    try:
        _ready(port, key, proc)
        for stream in (False, True):  # warm-up: connections, caches, lazy imports
            _load(port, key, stream, args.warmup, args.concurrency)
        _drained(port)
        counts = {}
        for mode, stream in (("json", False), ("stream", True)):

            def run(stream: bool = stream) -> None:
                _load(port, key, stream, args.requests, args.concurrency)
                _drained(port)

            loop, total = _segment(proc.pid, out, run)
            counts[mode], counts[mode + " loop"] = total / args.requests, loop / args.requests
        return counts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="Requests per mode.")
    parser.add_argument("--warmup", type=int, default=100, help="Requests per mode, uncounted.")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--variant", type=_variant, action="append", default=[])
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    trees = [("this tree", str(Path(__file__).resolve().parent.parent)), *args.variant]
    work = Path(tempfile.mkdtemp(prefix="spendscope-instr-"))
    mock = start_mock(work)
    try:
        rows = [(name, measure(tree, args, mock.base_url, work)) for name, tree in trees]
    finally:
        stop(mock)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\ngateway instructions per request (callgrind, whole process, recording to SQLite on; "
          f"{args.requests} requests per mode at concurrency {args.concurrency})\n")  # fmt: skip
    base = rows[0][1]
    print(f"{'code':20} {'json':>11} {'rel':>5} {'loop':>11} {'rel':>5} "
          f"{'stream':>11} {'rel':>5} {'loop':>11} {'rel':>5}")  # fmt: skip
    for name, counts in rows:
        cells = [f"{counts[k]:>11,.0f} {counts[k] / base[k]:>5.2f}"
                 for k in ("json", "json loop", "stream", "stream loop")]  # fmt: skip
        print(f"{name:20} {' '.join(cells)}")
    print("(json/stream: the whole process; loop: the event loop's thread alone — the rest is")
    print(" the recorder's writer thread and other helpers)")


if __name__ == "__main__":
    main()
