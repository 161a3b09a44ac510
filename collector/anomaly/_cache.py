"""Earlier weeks' spend of a window, read once and reused while the window is recent.

An evaluation judges two windows, each against the same hours in ``weeks`` earlier weeks, and
the evaluator runs every minute: without a cache each run reads ``2 × (weeks + 1)`` hours of
every member, of which only this week's two can have changed. With it, a run reads this
week's hours; the first run of an hour also reads the new running window's earlier weeks
(the complete window's were read an hour before, as the running one's). Earlier weeks'
rollups change only when old traffic arrives late or is repriced; such a change is seen when
the window moves on (within ``hours`` + 1 hours).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from collector.anomaly._spend import Split, Windows, WindowSpend, read_sums
from collector.budgets import Scope

_Key = tuple[str, str, int, int, datetime]  # scope, split, hours, weeks, window's first hour
_History = dict[str, tuple[Any, ...]]  # member → its spend in weeks 1..N, as stored


class HistoryCache:
    """Per window, each member's spend in the earlier weeks (see the module doc).

    Safe to share between threads; holds only windows that are still judged."""

    def __init__(self) -> None:
        self._kept: dict[_Key, _History] = {}
        self._lock = threading.Lock()

    def get(self, key: _Key) -> _History | None:
        with self._lock:
            return self._kept.get(key)

    def put(self, key: _Key, history: _History, oldest: datetime) -> None:
        """Keep ``history``; forget this watch's windows that start before ``oldest``."""
        with self._lock:
            stale = [k for k in self._kept if k[:4] == key[:4] and k[4] < oldest]
            for k in stale:
                del self._kept[k]
            self._kept[key] = history

    def __len__(self) -> int:
        return len(self._kept)


def read_recent(
    conn: Connection, scope: Scope, split: Split | None, wins: Windows, cache: HistoryCache
) -> dict[str, WindowSpend]:
    """What :func:`read_spend` returns, reading the earlier weeks only of windows not in
    ``cache`` (members without spend this week are left out: they cannot be unusual)."""
    judged = (wins.complete, wins.current)
    keys = [(str(scope), str(split), len(hours), wins.weeks, hours[0]) for hours in judged]
    known = [cache.get(key) for key in keys]
    ranges = []
    for hours, history in zip(judged, known, strict=True):
        bounds = wins.bounds(hours)
        ranges += bounds if history is None else bounds[:1]
    sums = read_sums(conn, scope, split, ranges)
    parts: list[dict[str, tuple[Any, ...]]] = []
    at = 0
    for key, history in zip(keys, known, strict=True):
        width = 1 if history is not None else wins.weeks + 1
        read = {m: s[at : at + width] for m, s in sums.items()}
        at += width
        if history is None:
            history = {m: s[1:] for m, s in read.items() if any(s[1:])}
            cache.put(key, history, oldest=wins.complete[0])
        zeros = (0,) * wins.weeks
        parts.append({m: s[:1] + history.get(m, zeros) for m, s in read.items()})
    complete, current = parts
    return {
        m: WindowSpend(complete[m], current[m]) for m in complete if complete[m][0] or current[m][0]
    }
