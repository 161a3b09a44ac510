"""What the gateway's Realtime relay adds per WebSocket frame, against the mock directly.

Two processes on 127.0.0.1 — ``spendscope mock-upstream`` and ``spendscope serve`` (SQLite,
recording on) in front of it — and one session to each, driven alternately in the same run
so host noise hits both sides alike:

* ``item`` — send ``conversation.item.create`` (a short text), time until
  ``conversation.item.added`` comes back: one client frame up, one server frame down;
* ``binary 4 KiB`` — a binary frame (an audio chunk's size) the mock echoes: one up, one down;
* ``response`` — ``response.create`` until ``response.done``: one frame up and 18 down
  (``response.created``, 16 text deltas, ``response.done``, which the gateway prices and
  hands to the recorder before relaying).

The added latency per frame is (gateway − direct) ÷ frames relayed, from the medians.

    .venv/bin/python bench/bench_realtime.py            # 2,000 rounds per probe
    .venv/bin/python bench/bench_realtime.py --rounds 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import UPSTREAM_KEY, Server, start_mock, start_spendscope, stop

_SAY = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi."}]}
ITEM = orjson.dumps({"type": "conversation.item.create", "item": _SAY})
TEXT_ONLY = '{"type":"session.update","session":{"output_modalities":["text"]}}'
FRAME = bytes(range(256)) * 16
Probe = Callable[[ClientConnection], Awaitable[float]]


async def _until(ws: ClientConnection, kind: str) -> None:
    marker = f'"type":"{kind}"'
    while True:
        message = await ws.recv()
        if isinstance(message, str) and marker in message:
            return


async def item(ws: ClientConnection) -> float:
    t0 = time.perf_counter()
    await ws.send(ITEM.decode())
    await _until(ws, "conversation.item.added")
    elapsed = time.perf_counter() - t0
    await _until(ws, "conversation.item.done")
    return elapsed


async def binary(ws: ClientConnection) -> float:
    t0 = time.perf_counter()
    await ws.send(FRAME)
    assert await ws.recv() == FRAME
    return time.perf_counter() - t0


async def response(ws: ClientConnection) -> float:
    t0 = time.perf_counter()
    await ws.send('{"type":"response.create"}')
    await _until(ws, "response.done")
    return time.perf_counter() - t0


PROBES: list[tuple[str, Probe, int]] = [
    ("item (1 up, 1 down)", item, 2),
    ("binary 4 KiB (1 up, 1 down)", binary, 2),
    ("response (1 up, 18 down)", response, 19),
]


async def _session(server: Server) -> ClientConnection:
    url = server.base_url.replace("http://", "ws://") + "/realtime?model=gpt-realtime"
    headers = {"Authorization": f"Bearer {server.key}", "x-mock-output-tokens": "16"}
    ws = await connect(url, additional_headers=headers, max_size=None, compression=None)
    await _until(ws, "session.created")
    await ws.send(TEXT_ONLY)
    await _until(ws, "session.updated")
    return ws


async def measure(direct: Server, gateway: Server, rounds: int) -> list[list[str]]:
    sides = [await _session(direct), await _session(gateway)]
    rows = []
    for name, probe, frames in PROBES:
        times: list[list[float]] = [[], []]
        for _ in range(max(20, rounds // 10)):  # warm-up
            for ws in sides:
                await probe(ws)
        for _ in range(rounds):
            for side, ws in enumerate(sides):
                times[side].append(await probe(ws))
        d50, g50 = (statistics.median(t) * 1000 for t in times)
        d99, g99 = (statistics.quantiles(t, n=100)[98] * 1000 for t in times)
        rows.append([name, f"{d50:.3f}", f"{g50:.3f}", f"{d99:.3f}", f"{g99:.3f}",
                     f"{(g50 - d50) / frames:.3f}"])  # fmt: skip
    for ws in sides:
        await ws.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    if args.rounds < 10:
        parser.error("--rounds must be at least 10")
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        work = Path(tmp)
        mock = start_mock(work)
        mock.key = UPSTREAM_KEY
        gateway = start_spendscope(work, mock.base_url, "spendscope", {})
        try:
            load = os.getloadavg()
            rows = asyncio.run(measure(mock, gateway, args.rounds))
        finally:
            stop(gateway)
            stop(mock)
    head = ["probe", "direct p50 ms", "gateway p50 ms", "direct p99 ms", "gateway p99 ms",
            "added p50 ms/frame"]  # fmt: skip
    print(f"rounds per probe: {args.rounds}; load average before: "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
