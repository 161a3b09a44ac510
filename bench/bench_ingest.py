"""Calls reported by clients: ``POST /api/ingest`` throughput, and direct mode's cost per call.

1. One gateway process (``spendscope serve``, SQLite) takes batches of 500 distinct chat
   events from one client over a kept-alive connection: events/s answered (priced and
   handed to the recorder), and events/s until the database holds them all. A replay of
   the first batches follows (booked nothing: the row count must not move).
2. The official openai SDK, plain and instrumented in direct mode, over the same
   in-process transport that answers a canned chat completion (so no network noise hides a
   few microseconds), then over HTTP against the mock upstream: the difference per call is
   what direct mode adds to the app's thread, in the thread's own CPU time (wall time on a
   shared machine mostly measures the neighbours). Blocks of calls alternate between the
   two clients; the median block is shown. The shipper posts to the running gateway
   meanwhile, on its own thread (its CPU per event is shown too).

3. The same SDK calls under callgrind (Debian's ``valgrind``): instructions per call of the
   app's thread, plain and in direct mode, and of the shipper's thread per event — counts
   that repeat on a busy machine, where the clocks above do not.

    .venv/bin/python bench/bench_ingest.py [--batches 40] [--calls 4000] [--instr-calls 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import openai
import orjson

from collector.sdk import Attribution, Shipper, instrument, shipper_for
from collector.sdk._direct import Meter, MeteringTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import (  # a sibling module, not a package
    UPSTREAM_KEY,
    Server,
    start_mock,
    start_spendscope,
    stop,
)

BATCH = 500
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
CANNED = orjson.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1765000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there, how are you?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 14,
            "completion_tokens": 7,
            "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "service_tier": "default",
    }
)


def _events(start: int, n: int) -> bytes:
    now = datetime.now(UTC).isoformat()
    usage = orjson.loads(CANNED)["usage"]
    lines = [
        orjson.dumps(
            {
                "event_id": f"bench-{i}",
                "model": "gpt-4o-mini",
                "endpoint": "chat",
                "usage": usage,
                "started_at": now,
                "latency_ms": 250.0,
                "tags": {"bench": "ingest"},
            }
        )
        for i in range(start, start + n)
    ]
    return b"\n".join(lines)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process used so far: unlike wall time, not inflated by
    other work waiting for the same cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _recorded(base: str) -> int:
    health = httpx.get(base + "/healthz").json()
    return int(health["recorder"]["written"])


def bench_api(gateway: Server, batches: int) -> list[tuple[str, str]]:
    base = gateway.base_url.removesuffix("/v1")
    bodies = [_events(i * BATCH, BATCH) for i in range(batches)]
    headers = {"authorization": f"Bearer {gateway.key}", "content-type": "application/x-ndjson"}
    written0 = _recorded(base)
    assert gateway.proc is not None
    cpu0 = _cpu_s(gateway.proc.pid)
    with httpx.Client(timeout=60) as client:
        t0 = time.perf_counter()
        for body in bodies:
            answer = client.post(base + "/api/ingest", content=body, headers=headers)
            assert answer.status_code == 200 and answer.json()["accepted"] == BATCH, answer.text
        answered = time.perf_counter() - t0
        cpu = _cpu_s(gateway.proc.pid) - cpu0
        while _recorded(base) - written0 < batches * BATCH:
            time.sleep(0.01)
        stored = time.perf_counter() - t0
        written = _recorded(base)
        t1 = time.perf_counter()
        for body in bodies[: min(10, batches)]:
            assert client.post(base + "/api/ingest", content=body, headers=headers).is_success
        replay = time.perf_counter() - t1
        time.sleep(1.0)
        health = httpx.get(base + "/healthz").json()["recorder"]
        assert health["written"] == written, "a replay was booked twice"
    total = batches * BATCH
    replayed = min(10, batches) * BATCH
    return [
        ("events posted", f"{total:,} in batches of {BATCH}"),
        ("answered (priced, handed to the recorder)", f"{total / answered:,.0f} events/s"),
        ("gateway process CPU per event", f"{cpu / total * 1e6:,.1f} µs"),
        ("events per gateway CPU-second", f"{total / cpu:,.0f}"),
        ("in the database", f"{total / stored:,.0f} events/s"),
        ("replay of the first batches", f"{replayed / replay:,.0f} events/s, 0 rows added"),
    ]


def _canned(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=CANNED, headers={"content-type": "application/json"})


def _timed(call: Callable[[], object], n: int) -> float:
    """CPU µs per call of the calling thread (the app's thread), not wall time."""
    t0 = time.thread_time()
    for _ in range(n):
        call()
    return (time.thread_time() - t0) / n * 1e6


def _compare(
    plain: openai.OpenAI, direct: openai.OpenAI, calls: int, block: int
) -> tuple[float, float]:
    def call(client: openai.OpenAI) -> Callable[[], object]:
        return lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]

    _timed(call(plain), 50), _timed(call(direct), 50)  # warm both
    a: list[float] = []
    b: list[float] = []
    for _ in range(max(1, calls // block)):
        a.append(_timed(call(plain), block))
        b.append(_timed(call(direct), block))
    return statistics.median(a), statistics.median(b)


def bench_sdk(gateway: Server, mock: Server, calls: int, work: Path) -> list[tuple[str, str]]:
    ingest = gateway.base_url.removesuffix("/v1") + "/api/ingest"
    shipper = Shipper(ingest, gateway.key, buffer_dir=work / "buffer")
    meter = Meter(shipper, Attribution.checked("bench", {"feature": "bench"}))
    plain = openai.OpenAI(
        api_key="sk-x",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=httpx.MockTransport(_canned)),
    )
    metered = MeteringTransport(httpx.MockTransport(_canned), meter)
    direct = openai.OpenAI(
        api_key="sk-x", max_retries=0, http_client=openai.DefaultHttpxClient(transport=metered)
    )
    cpu0 = time.process_time()
    base_us, direct_us = _compare(plain, direct, calls, 200)
    assert shipper.flush(30)
    process_us = (time.process_time() - cpu0) * 1e6
    # the app thread's CPU (plain + direct blocks, warm-up too) vs the whole process's:
    shipper_us = (process_us - (base_us + direct_us) * (calls + 50)) / (calls + 50)
    over_http = openai.OpenAI(base_url=mock.base_url, api_key=UPSTREAM_KEY, max_retries=0)
    direct_http = instrument(over_http, ingest_url=ingest, key=gateway.key, buffer_dir=work / "b2")
    http_base, http_direct = _compare(over_http, direct_http, calls // 4, 100)
    second = shipper_for(ingest, gateway.key, work / "b2")
    assert shipper.flush(30) and second.flush(30)
    shipper.close()
    second.close()
    return [
        ("in-process transport: plain SDK call (app thread CPU)", f"{base_us:,.1f} µs"),
        ("in-process transport: direct mode (app thread CPU)", f"{direct_us:,.1f} µs"),
        ("direct mode adds, per call (app thread CPU)", f"{direct_us - base_us:,.1f} µs"),
        ("shipper thread, per event (CPU, roughly)", f"{shipper_us:,.1f} µs"),
        ("over HTTP to the mock upstream: plain (app thread CPU)", f"{http_base:,.0f} µs"),
        ("over HTTP to the mock upstream: direct mode", f"{http_direct:,.0f} µs"),
        ("events shipped / dropped", f"{shipper.acknowledged:,} / {shipper.dropped}"),
    ]


_TOTALS = re.compile(rb"^(?:totals|summary): (\d+)", re.MULTILINE)


def sdk_loop(mode: str, calls: int, ingest: str, key: str, buffer: Path) -> None:
    """``calls`` SDK calls over the in-process transport, plain or in direct mode (run under
    callgrind by :func:`bench_instructions`); direct mode's events are all shipped before
    the process ends, so their cost is counted too."""
    if mode == "plain":
        transport: httpx.BaseTransport = httpx.MockTransport(_canned)
        shipper = None
    else:
        shipper = Shipper(ingest, key, buffer_dir=buffer)
        meter = Meter(shipper, Attribution.checked("bench", {"feature": "bench"}))
        transport = MeteringTransport(httpx.MockTransport(_canned), meter)
    client = openai.OpenAI(
        api_key="sk-x", max_retries=0, http_client=openai.DefaultHttpxClient(transport=transport)
    )
    for _ in range(calls):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # type: ignore[arg-type]
    if shipper is not None:
        assert shipper.flush(120), "events left unsent"
        shipper.close()


def _instructions(mode: str, calls: int, gateway: Server, work: Path) -> dict[str, int]:
    """Instructions per thread ("main", "other") of a whole ``sdk_loop`` run."""
    ingest = gateway.base_url.removesuffix("/v1") + "/api/ingest"
    out = work / f"cg-{mode}-{calls}"
    out.mkdir()
    argv = [
        "valgrind", "--tool=callgrind", "--separate-threads=yes",
        f"--callgrind-out-file={out}/cg.out", sys.executable, __file__, "--sdk-loop", mode,
        str(calls), ingest, gateway.key, str(out / "buffer"),
    ]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, cwd=work)
    counts: dict[str, int] = {"main": 0, "other": 0}
    for path in sorted(out.glob("cg.out*")):
        found = _TOTALS.search(path.read_bytes())
        if found:
            counts["main" if path.name.endswith("-01") else "other"] += int(found.group(1))
    return counts


def bench_instructions(gateway: Server, work: Path, calls: int) -> list[tuple[str, str]]:
    """Per-call instructions: the difference of a short and a long run of each mode (the
    imports and start-up cancel out). Immune to the neighbours, unlike any clock."""
    small = max(50, calls // 5)
    per: dict[str, dict[str, float]] = {}
    for mode in ("plain", "direct"):
        a, b = _instructions(mode, small, gateway, work), _instructions(mode, calls, gateway, work)
        per[mode] = {k: (b[k] - a[k]) / (calls - small) for k in a}
    app = per["direct"]["main"] - per["plain"]["main"]
    return [
        ("plain SDK call, app thread", f"{per['plain']['main']:,.0f} instructions"),
        ("direct mode, app thread", f"{per['direct']['main']:,.0f} instructions"),
        ("direct mode adds to the app thread", f"{app:,.0f} instructions per call"),
        (
            "shipper thread, per event",
            f"{per['direct']['other'] - per['plain']['other']:,.0f} instructions",
        ),
    ]


def _table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}\n")
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--instr-calls", type=int, default=1000, help="0: skip callgrind")
    parser.add_argument("--sdk-loop", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sdk_loop:
        mode, calls, ingest, key, buffer = args.sdk_loop
        sdk_loop(mode, int(calls), ingest, key, Path(buffer))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mock = start_mock(work)
        gateway = start_spendscope(work, mock.base_url, "spendscope", {})
        try:
            api = bench_api(gateway, args.batches)
            sdk = bench_sdk(gateway, mock, args.calls, work)
            instr = bench_instructions(gateway, work, args.instr_calls) if args.instr_calls else []
        finally:
            stop(gateway)
            stop(mock)
    print(f"load average after: {os.getloadavg()[0]:.2f} (1 min), cores: {os.cpu_count()}")
    _table("POST /api/ingest, one gateway process (SQLite)", api)
    _table("openai SDK chat call, plain vs direct mode (median of alternating blocks)", sdk)
    if instr:
        _table("the same call in instructions (callgrind; load-immune)", instr)


if __name__ == "__main__":
    main()
