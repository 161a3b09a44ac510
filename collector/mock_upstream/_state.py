"""Per-server mutable state: attempt counters, the prompt-cache memory, rate-limit windows.

One instance lives on the aiohttp app; everything runs on that app's single event loop, so no
locks are needed.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from collector.mock_upstream._config import MockConfig
from collector.mock_upstream._ledger import Ledger
from collector.mock_upstream._scenario import FaultPlanner
from collector.mock_upstream._text import TextBank

CACHE_MIN_TOKENS = 1024
CACHE_STEP = 128
_SEEN_LIMIT = 65_536
_WINDOW_S = 60.0


def cached_for(prompt_tokens: int) -> int:
    """OpenAI caches prefixes of >= 1024 tokens in 128-token steps: the largest multiple of 128
    strictly below the prompt (so at least one token is always uncached), or 0."""
    cached = ((prompt_tokens - 1) // CACHE_STEP) * CACHE_STEP
    return cached if cached >= CACHE_MIN_TOKENS else 0


@dataclass
class RateWindow:
    """A fixed one-minute window feeding the ``x-ratelimit-*`` headers (never enforced)."""

    rpm: int
    tpm: int
    started: float = 0.0
    requests: int = 0
    tokens: int = 0

    def charge(self, tokens: int, now: float) -> dict[str, str]:
        if now - self.started >= _WINDOW_S:
            self.started, self.requests, self.tokens = now, 0, 0
        self.requests += 1
        self.tokens += tokens
        reset_ms = max(1, int((self.started + _WINDOW_S - now) * 1000))
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-requests": str(max(0, self.rpm - self.requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self.tpm - self.tokens)),
            "x-ratelimit-reset-requests": f"{min(reset_ms, 60_000 // self.rpm + 1)}ms",
            "x-ratelimit-reset-tokens": f"{reset_ms}ms" if self.tokens else "0s",
        }


@dataclass
class MockState:
    """Everything a handler needs besides the request, built once per app."""

    config: MockConfig
    planner: FaultPlanner = field(init=False)
    bank: TextBank = field(init=False)
    window: RateWindow = field(init=False)
    ledger: Ledger = field(init=False)
    admin_calls: list[int] = field(default_factory=lambda: [0])
    _seen: OrderedDict[int, None] = field(default_factory=OrderedDict)
    # Realtime session id → the close code its client sent (None: closed without a code).
    realtime_closes: OrderedDict[str, int | None] = field(default_factory=OrderedDict)
    _prefix: str = field(default_factory=lambda: os.urandom(4).hex())
    _counter: int = 0
    # the keys accepted now (None: any); ``PUT /_mock/keys`` replaces them (a key revoked)
    keys: frozenset[str] | None = field(init=False)

    def __post_init__(self) -> None:
        self.keys = self.config.keys
        self.planner = FaultPlanner(self.config.scenario, self.config.seed)
        self.bank = TextBank(self.config.seed)
        self.window = RateWindow(self.config.rpm_limit, self.config.tpm_limit)
        self.ledger = Ledger(self.config.project_id)

    def request_id(self) -> str:
        """``req_`` + 32 hex like OpenAI's; a counter keeps it unique without a syscall."""
        self._counter += 1
        return f"req_{self._prefix}{self._counter:024x}"

    def object_id(self, prefix: str) -> str:
        """Ids such as ``chatcmpl-…`` / ``resp_…``: unique per server run."""
        self._counter += 1
        return f"{prefix}{self._prefix}{self._counter:020x}"

    def prompt_cache(self, key: int, prompt_tokens: int) -> int:
        """Cached tokens for a prompt seen before (same model and prompt), else 0 (first sight
        writes the cache, as OpenAI's automatic prompt caching does)."""
        if prompt_tokens < CACHE_MIN_TOKENS:
            return 0
        if key in self._seen:
            self._seen.move_to_end(key)
            return cached_for(prompt_tokens)
        self._seen[key] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return 0

    def rate_headers(self, tokens: int) -> dict[str, str]:
        return self.window.charge(tokens, time.monotonic())
