"""Semantic cache: hit and false-hit rates on fixed question pairs, and what a hit costs.

1. Rates. Each question of ``semantic_pairs.json`` (40 pairs asking the same thing, 40 that
   look alike but ask different things) is embedded by the mock upstream — the mock's hashed
   bag-of-words embeddings, NOT OpenAI's — and each pair's cosine compared with thresholds:
   a *hit* is a same-meaning pair at or over it, a *false hit* a different-meaning one.
2. Latency at c=1, through spendscope (each its own process, the mock upstream behind it):
   an exact-cache-only gateway (miss, exact hit) against a semantic gateway (miss = embed +
   upstream + store; semantic hit = embed + search + replay; exact hit = no embedding).
3. The search itself: one linear scan of a bucket of N 1536-dimension vectors, in process.

Prints tables; never a test. ``--quick`` for a short run. ``--embeddings-url URL`` (with
``OPENAI_API_KEY``, ``--model``, ``--pairs FILE``) prints only the rates, measured with a real
embedding model on your own pairs: how to choose ``SPENDSCOPE_CACHE_SEMANTIC_THRESHOLD``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import MODEL, Server, start_mock, start_spendscope, stop  # a sibling module

from collector.cache import MemoryVectorIndex, Vector, decode_vector

PAIRS = Path(__file__).resolve().parent / "semantic_pairs.json"
THRESHOLDS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
CACHE_ON = {"SPENDSCOPE_CACHE_ENABLED": "true", "SPENDSCOPE_CACHE_PROJECTS": '["bench"]'}
SEMANTIC_ON = CACHE_ON | {"SPENDSCOPE_CACHE_SEMANTIC": "true",
                          "SPENDSCOPE_CACHE_SEMANTIC_THRESHOLD": "0.8"}  # fmt: skip
QUESTION = "What is the capital of France?"
PARAPHRASE = "Which city is the capital of France?"


def rates(upstream: Server, pairs_file: Path, model: str) -> str:
    pairs = json.loads(pairs_file.read_text())
    texts = sorted({q for kind in ("same", "different") for pair in pairs[kind] for q in pair})
    with httpx.Client(timeout=30) as client:
        response = client.post(
            upstream.base_url + "/embeddings",
            headers={"authorization": f"Bearer {upstream.key}"},
            json={"model": model, "input": texts, "encoding_format": "base64"},
        )
        response.raise_for_status()
        answer = response.json()
    vectors: dict[str, Vector] = {}
    for text, item in zip(texts, answer["data"], strict=True):
        vector = decode_vector(item["embedding"])
        assert vector is not None, f"the mock gave no vector for {text!r}"
        vectors[text] = vector
    cosine = {kind: [float(np.dot(vectors[a], vectors[b])) for a, b in pairs[kind]]
              for kind in ("same", "different")}  # fmt: skip
    lines = [f"{'threshold':>9} {'hit rate':>9} {'false hits':>10}", "-" * 30]
    for t in THRESHOLDS:
        hit = sum(c >= t for c in cosine["same"]) / len(cosine["same"])
        false = sum(c >= t for c in cosine["different"]) / len(cosine["different"])
        lines.append(f"{t:>9.2f} {hit:>9.0%} {false:>10.0%}")
    for kind in ("same", "different"):
        q = np.percentile(cosine[kind], [0, 50, 100])
        lines.append(f"cosine of '{kind}' pairs: min {q[0]:.3f}  median {q[1]:.3f}  max {q[2]:.3f}")
    return "\n".join(lines)


def _ask(client: httpx.Client, server: Server, question: str) -> tuple[float, str]:
    payload = {"model": MODEL, "max_tokens": 16, "temperature": 0,
               "messages": [{"role": "user", "content": question}]}  # fmt: skip
    t0 = time.perf_counter()
    response = client.post(server.base_url + "/chat/completions", json=payload,
                           headers={"authorization": f"Bearer {server.key}"})  # fmt: skip
    elapsed = (time.perf_counter() - t0) * 1000
    response.raise_for_status()
    kind = response.headers.get("x-spendscope-cache", "miss")
    if "x-spendscope-cache-similarity" in response.headers:
        kind = "semantic hit"
    return elapsed, kind


def latency(servers: dict[str, Server], n: int) -> str:
    rows = []
    with httpx.Client(timeout=30) as client:
        for name, server in servers.items():
            _ask(client, server, QUESTION)  # stores the answer the hits replay
            cases = {"miss": [f"{uuid.uuid4().hex} {uuid.uuid4().hex}" for _ in range(n)],
                     "exact hit": [QUESTION] * n}  # fmt: skip
            if "semantic" in name:
                cases["semantic hit"] = [PARAPHRASE] * n
            for case, questions in cases.items():
                timed = [_ask(client, server, q) for q in questions]
                kinds = {k for _, k in timed}
                ms = sorted(t for t, _ in timed)
                p50, p90 = statistics.median(ms), ms[int(len(ms) * 0.9) - 1]
                rows.append(
                    f"{name:22} {case:13} {p50:>7.2f} {p90:>7.2f}  {'/'.join(sorted(kinds))}"
                )
    head = f"{'gateway':22} {'request':13} {'p50 ms':>7} {'p90 ms':>7}  answered as"
    return "\n".join([head, "-" * len(head), *rows])


def scan(sizes: tuple[int, ...], n: int) -> str:
    return asyncio.run(_scan(sizes, n))


async def _scan(sizes: tuple[int, ...], n: int) -> str:
    rng = np.random.default_rng(7)
    lines = [f"{'vectors in bucket':>17} {'search µs (median)':>19} {'add µs (mean)':>13}",
             "-" * 51]  # fmt: skip
    for size in sizes:
        index = MemoryVectorIndex(bucket_size=size, max_vectors=size)
        vectors = rng.standard_normal((size, 1536)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        t0 = time.perf_counter()
        for i, vector in enumerate(vectors):
            await index.add("b", f"k{i}", vector, 3600)
        add_us = (time.perf_counter() - t0) * 1e6 / size
        probe = vectors[size // 2]
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await index.search("b", probe)
            times.append((time.perf_counter() - t0) * 1e6)
        lines.append(f"{size:>17} {statistics.median(times):>19.0f} {add_us:>13.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per latency row")
    parser.add_argument("--quick", action="store_true", help="40 requests per latency row")
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="question pairs (JSON)")
    parser.add_argument("--embeddings-url", help="rates only, from this OpenAI-compatible /v1 URL")
    parser.add_argument("--model", default="text-embedding-3-small", help="embedding model")
    args = parser.parse_args()
    if args.embeddings_url:  # your own upstream: OPENAI_API_KEY, one embeddings request
        real = Server("upstream", args.embeddings_url.rstrip("/"), os.environ["OPENAI_API_KEY"])
        print(f"Hit and false-hit rates, {args.model} at {real.base_url}:\n")
        print(rates(real, args.pairs, args.model))
        return
    n = 40 if args.quick else args.requests
    work = Path(tempfile.mkdtemp(prefix="bench-semcache-"))
    servers: list[Server] = []
    try:
        servers.append(mock := start_mock(work))
        print("Hit and false-hit rates, mock upstream embeddings (not OpenAI's):\n")
        print(rates(mock, args.pairs, args.model))
        servers.append(exact := start_spendscope(work, mock.base_url, "exact", CACHE_ON))
        servers.append(sem := start_spendscope(work, mock.base_url, "semantic", SEMANTIC_ON))
        print("\nLatency at c=1 (semantic threshold 0.8):\n")
        print(latency({"exact cache only": exact, "semantic cache (memory)": sem}, n))
        print("\nOne search (memory index, numpy einsum, one thread):\n")
        print(scan((100, 1000, 5000), 50 if args.quick else 200))
        loads = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"\nload average {loads}; {os.cpu_count()} CPUs")
    finally:
        for server in reversed(servers):
            stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
