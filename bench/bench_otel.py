"""What the SDK middleware costs per call, and how fast ``otel export`` drains recorded requests.

Run: ``.venv/bin/python bench/bench_otel.py [--requests N] [--calls N]``. Prints tables; asserts
nothing. The export part seeds N requests (a third with a retried attempt) through the
recorder into a temporary SQLite file and sends them to an OTLP/HTTP receiver in a thread of
the same process (it reads each body and answers 200), so both share the 2 cores.
"""

from __future__ import annotations

import argparse
import http.server
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
from opentelemetry.sdk.trace import ReadableSpan

from collector import sdk as spendscope
from collector.db import make_engine, upgrade_head
from collector.mock_upstream import MockConfig, run_in_thread
from collector.otel import Cursor, OtlpSink, SpanBuilder, export_pending
from collector.recorder import AttemptEvent, UsageEvent, new_request_id, write_batch
from collector.requestlog import requests_by_id
from collector.sdk._context import Attribution
from collector.sdk._hooks import Instrumentation

MESSAGES = [{"role": "user", "content": "hi"}]


def _best(runs: int, fn: Callable[[], float]) -> float:
    return max(fn() for _ in range(runs))


def hooks_per_second(n: int) -> float:
    """Both hooks on a prepared request/response pair, inside an attribute() block."""
    hooks = Instrumentation(Attribution.checked("svc", {"env": "prod"}, {"app": "bench"}))
    request = httpx.Request("POST", "http://gw/v1/chat/completions")
    headers = {"x-spendscope-request-id": new_request_id(), "x-spendscope-cost-usd": "2.7E-5"}
    response = httpx.Response(200, headers=headers, request=request)
    with spendscope.attribute(user="alice", tags={"feature": "search"}):
        start = time.perf_counter()
        for _ in range(n):
            request.headers.pop("x-spendscope-user", None)
            request.headers.pop("x-spendscope-tags", None)
            request.headers.pop("x-spendscope-metadata", None)
            hooks.request(request)
            hooks.response(response)
        return n / (time.perf_counter() - start)


def calls_per_second(client: openai.OpenAI, n: int) -> float:
    start = time.perf_counter()
    with spendscope.attribute(user="alice", tags={"feature": "search"}):
        for _ in range(n):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    return n / (time.perf_counter() - start)


def middleware_table(calls: int, runs: int) -> None:
    print(f"\nSDK middleware (sequential chat calls to the mock upstream, best of {runs})")
    print("| client | calls/s | µs per call |")
    print("|---|---|---|")
    rate = _best(runs, lambda: hooks_per_second(20_000))
    print(f"| hooks alone (request + response) | {rate:,.0f} | {1e6 / rate:.1f} |")
    with run_in_thread(MockConfig(latency_ms=0)) as url:
        plain = openai.OpenAI(base_url=url, api_key="sk-x", max_retries=0)
        wrapped = spendscope.spendscope_client(
            openai.OpenAI, base_url=url, api_key="sk-x", max_retries=0, tags={"env": "prod"}
        )
        calls_per_second(plain, 50), calls_per_second(wrapped, 50)  # warm both
        pairs = [(calls_per_second(plain, calls), calls_per_second(wrapped, calls))
                 for _ in range(runs)]  # fmt: skip  # interleaved: same load for both
    for name, rates in (("plain openai.OpenAI", [p for p, _ in pairs]),
                        ("spendscope_client", [w for _, w in pairs])):  # fmt: skip
        best = max(rates)
        print(f"| {name} | {best:,.0f} | {1e6 / best:.0f} |")
    ratio = statistics.median(w / p for p, w in pairs)
    print(f"median ratio instrumented / plain: {ratio:.2f}")


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _events(n: int) -> list[UsageEvent]:
    t = datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        at = t + timedelta(milliseconds=i)
        attempts = [AttemptEvent(1, at, 40.0, "gpt-4o-mini", http_status=200, prompt_tokens=100,
                                 completion_tokens=20)]  # fmt: skip
        if i % 3 == 0:
            attempts.insert(0, AttemptEvent(1, at, 5.0, "gpt-4o-mini", http_status=429,
                                            error_type="rate_limit"))  # fmt: skip
            attempts[1].attempt_no = 2
        out.append(UsageEvent(id=new_request_id(), started_at=at, duration_ms=50.0,
                              endpoint="/v1/chat/completions", outcome="success",
                              cost_source="computed", model_requested="gpt-4o-mini",
                              model_served="gpt-4o-mini-2024-07-18", http_status=200,
                              prompt_tokens=100, completion_tokens=20, tags={"team": "a"},
                              attempts=attempts))  # fmt: skip
    return out


class _NullSink:
    def export(self, spans: Sequence[ReadableSpan]) -> None:
        del spans


def export_table(n: int, runs: int) -> None:
    print(f"\nOTel export of {n:,} recorded requests (SQLite, batch 500, best of {runs})")
    print("| stage | requests/s | spans/s |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade_head(url)
        engine = make_engine(url)
        events = _events(n)
        for i in range(0, n, 1000):
            write_batch(engine, events[i : i + 1000])
        spans = n + sum(len(e.attempts) for e in events)
        builder = SpanBuilder({"default": "https://api.openai.com/v1"})
        ids = sorted(e.id for e in events)

        def build_only() -> float:
            start = time.perf_counter()
            for i in range(0, n, 500):
                builder.spans(requests_by_id(engine, ids[i : i + 500]))
            return n / (time.perf_counter() - start)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sink = OtlpSink(f"http://127.0.0.1:{server.server_address[1]}/v1/traces", {}, 30)

        def full(null: bool) -> float:
            cursor = Path(tmp) / f"cursor-{time.monotonic_ns()}.json"
            start = time.perf_counter()
            export_pending(engine, _NullSink() if null else sink, builder, cursor,
                           now=datetime.now(UTC), settle_s=0)  # fmt: skip
            return n / (time.perf_counter() - start)

        per_request = spans / n
        for name, fn in (("read rows + build spans", build_only),
                         ("… + cursor saves (no send)", lambda: full(True)),
                         ("… + OTLP/HTTP protobuf send", lambda: full(False))):  # fmt: skip
            rate = _best(runs, fn)
            print(f"| {name} | {rate:,.0f} | {rate * per_request:,.0f} |")
        server.shutdown()
        engine.dispose()
        for size in (10_000, 180_000):
            cursor = Cursor(after="", exported={new_request_id() for _ in range(size)})
            path = Path(tmp) / "big.json"
            start = time.perf_counter()
            cursor.save(path)
            took = (time.perf_counter() - start) * 1000
            print(f"cursor save with {size:,} ids above 'after': {took:.0f} ms, "
                  f"{path.stat().st_size / 1e6:.1f} MB")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    middleware_table(args.calls, args.runs)
    export_table(args.requests, args.runs)


if __name__ == "__main__":
    main()
