"""Frames on the pipe between the gateway and its writer process.

A frame is a 4-byte big-endian length and its payload: the hello and the answers are small
pickles of plain values (both ends are this same module of the same tree: the writer process
is started from the gateway's own interpreter); a batch is its events' encoded lines, joined
(see :mod:`collector.recorder.codec`).
"""

from __future__ import annotations

import os

_LEN = 4
MAX_FRAME = 1 << 31  # a batch larger than 2 GiB is a bug, not a batch


class WireError(Exception):
    """The other end went away or sent something that is not a frame."""


def send(fd: int, payload: bytes) -> None:
    """Write one frame (blocking; the GIL is released while the pipe is full)."""
    view = memoryview(len(payload).to_bytes(_LEN, "big") + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def receive(fd: int) -> bytes:
    """Read one frame; WireError on end of file or a length no frame can have."""
    size = int.from_bytes(_read_exactly(fd, _LEN), "big")
    if size >= MAX_FRAME:
        raise WireError(f"frame of {size} bytes announced")
    return _read_exactly(fd, size)


def _read_exactly(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise WireError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
