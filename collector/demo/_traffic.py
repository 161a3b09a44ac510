"""Live traffic through the real gateway: Poisson arrivals at a set rate, the official SDK.

Every request carries the demo's attribution headers; a few carry scripted ``x-mock-fault``
sequences (keyed by a fresh ``x-mock-scenario``) so that gateway retries, rescues, exhausted
retries, timeouts and cut streams show up within seconds. The SDK's own retries are off: what
the client sees is what the gateway answered after *its* retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
import openai
from openai import AsyncOpenAI

from collector.demo._requests import KINDS, QUESTIONS, Ask, Kind
from collector.demo._setup import LIVE_TAG
from collector.demo._world import KEYS

FAULT_SHARE = 0.08
# Scripted faults per attempt (see the mock's docstring): rescued, exhausted, timed out, cut;
# "503,503,503,ok" exhausts a model's three tries, so gpt-4o is rescued by its fallback model.
FAULTS = ("500,ok", "429@0.2,ok", "503,503,ok", "500,500,500", "503,503,503,ok", "timeout@3,ok",
          "cut,ok")  # fmt: skip
STREAM_FAULTS = ("500,ok", "503,503,ok", "cut@4")
MAX_IN_FLIGHT = 64
DRAIN_S = 8.0


@dataclass
class TrafficStats:
    """What the client saw, by class of answer (the gateway records the same requests)."""

    sent: int = 0
    ok: int = 0
    upstream_errors: int = 0
    client_errors: int = 0
    blocked: int = 0
    unreachable: int = 0
    faulted: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def answered(self) -> int:
        """Requests the gateway answered (and therefore recorded)."""
        return self.ok + self.upstream_errors + self.client_errors + self.blocked

    @property
    def errors(self) -> int:
        return self.upstream_errors + self.client_errors + self.blocked + self.unreachable


def _users() -> Mapping[str, tuple[str, ...]]:
    return {k.name: k.users for k in KEYS if k.live and not k.user}


class Traffic:
    """Drives requests until stopped; ``stats`` is read by the progress display."""

    def __init__(
        self, base_url: str, raw_keys: Mapping[str, str], rate: float, seed: int = 0
    ) -> None:
        self.stats = TrafficStats()
        self._rate = rate
        self._rng = random.Random(seed)  # noqa: S311 - fake traffic or text, not a secret
        self._users = _users()
        self._clients = {
            name: AsyncOpenAI(base_url=base_url, api_key=raw, max_retries=0, timeout=30.0)
            for name, raw in raw_keys.items()
            if any(k.key == name for k in KINDS)
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set, then let in-flight requests finish (bounded)."""
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        weights = [k.weight for k in KINDS]
        while not stop.is_set():
            if len(tasks) < MAX_IN_FLIGHT:
                kind = self._rng.choices(KINDS, weights)[0]
                task = loop.create_task(self._one(kind))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._rng.expovariate(self._rate))
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for client in self._clients.values():
            await client.close()

    def _headers(self, kind: Kind) -> dict[str, str]:
        tags = f"{LIVE_TAG[0]}={LIVE_TAG[1]},feature={kind.name}"
        headers = {"x-spendscope-tags": tags, "x-spendscope-metadata": json.dumps({"demo": "live"})}
        users = self._users.get(kind.key)
        if users:
            headers["x-spendscope-user"] = self._rng.choice(users)
        if self._rng.random() < FAULT_SHARE:
            headers["x-mock-fault"] = self._rng.choice(STREAM_FAULTS if kind.stream else FAULTS)
            headers["x-mock-scenario"] = uuid.uuid4().hex
            self.stats.faulted += 1
        return headers

    async def _one(self, kind: Kind) -> None:
        ask = Ask(self._clients[kind.key], self._rng.choice(QUESTIONS), self._headers(kind))
        self.stats.sent += 1
        self.stats.by_kind[kind.name] += 1
        try:
            await kind.run(ask)
        except openai.APIStatusError as exc:
            self._count_status(exc)
        except (openai.APIConnectionError, httpx.TransportError):
            self.stats.unreachable += 1
        except openai.APIError:  # an error event inside a stream (e.g. upstream cut it)
            self.stats.upstream_errors += 1
        else:
            self.stats.ok += 1

    def _count_status(self, exc: openai.APIStatusError) -> None:
        if exc.code == "insufficient_quota":  # the gateway's own hard-budget refusal
            self.stats.blocked += 1
        elif exc.status_code == 429 or exc.status_code >= 500:
            self.stats.upstream_errors += 1
        else:
            self.stats.client_errors += 1
