"""Gateway → writer pipe framing: ``recorder._wire`` against ``multiprocessing.connection``.

A forked child answers every frame with a 16-byte ack, as the writer process answers each
batch. Both framings run on the same pipes in one process, alternating rounds, so machine load
hits both alike; the figure to read is the ratio. Run: ``.venv/bin/python bench/bench_wire.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

from collector.recorder import _wire

SIZES = {"batch of 200 events (120 kB)": 120_000, "small frame (200 B)": 200}
FRAMES = 2_000
ROUNDS = 5
ACK = b"a" * 16


def _child(read_fd: int, write_fd: int) -> None:
    conn_in, conn_out = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    while True:
        kind = os.read(read_fd, 1)
        if not kind or kind == b"q":
            os._exit(0)
        count = int.from_bytes(os.read(read_fd, 4), "big")
        for _ in range(count):
            if kind == b"w":
                _wire.receive(read_fd)
                _wire.send(write_fd, ACK)
            else:
                conn_in.recv_bytes()
                conn_out.send_bytes(ACK)


def _round(
    kind: bytes, send: Callable[[bytes], None], receive: Callable[[], bytes], payload: bytes
) -> float:
    out_fd = _FDS[1]
    os.write(out_fd, kind + FRAMES.to_bytes(4, "big"))
    start = time.perf_counter()
    for _ in range(FRAMES):
        send(payload)
        receive()
    return FRAMES / (time.perf_counter() - start)


_FDS: tuple[int, int] = (-1, -1)


def main() -> None:
    global _FDS
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    if os.fork() == 0:
        _child(to_child, from_child)
    _FDS = (to_parent, from_parent)
    conn_in = Connection(to_parent, writable=False)
    conn_out = Connection(from_parent, readable=False)
    print(f"load average: {os.getloadavg()[0]:.2f}  python {sys.version.split()[0]}")
    for label, size in SIZES.items():
        payload = os.urandom(size)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(ROUNDS):
            ours.append(_round(b"w", lambda p: _wire.send(from_parent, p),
                               lambda: _wire.receive(to_parent), payload))  # fmt: skip
            theirs.append(_round(b"c", conn_out.send_bytes, conn_in.recv_bytes, payload))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"{label}: _wire {a:,.0f} frames/s, multiprocessing.connection {b:,.0f} "
              f"frames/s (ratio {b / a:.2f})")  # fmt: skip
    os.write(from_parent, b"q")
    os.wait()


if __name__ == "__main__":
    main()
