"""Rate limits (RPM and TPM, per key and per project): in-process or shared through Redis.

Both backends implement :class:`RateLimiter` with the same sliding-window-counter meaning
(see ``_window``). :func:`make_limiter` picks Redis when ``SPENDSCOPE_REDIS_URL`` is set;
the Redis client is imported only then (it is ~7 MB of a gateway's memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from collector.ratelimit._memory import InProcessLimiter
from collector.ratelimit._window import WINDOW_S, Decision, Limit, retry_after, window_position
from collector.settings import Settings

if TYPE_CHECKING:
    from collector.ratelimit._redis import RedisLimiter

__all__ = [
    "WINDOW_S",
    "Decision",
    "InProcessLimiter",
    "Limit",
    "RateLimiter",
    "RedisLimiter",
    "make_limiter",
    "request_limits",
    "retry_after",
    "window_position",
]


class RateLimiter(Protocol):
    async def acquire(self, limits: Sequence[Limit], now: datetime) -> Decision:
        """Charge every limit, or none of them if one would be exceeded."""
        ...

    async def refund(self, limits: Sequence[Limit], now: datetime) -> None:
        """Take back a charge of :meth:`acquire` (same ``now``): another policy refused the
        request, so it must not use up this allowance."""
        ...

    async def add(self, keys: Sequence[str], amount: int, now: datetime) -> None:
        """Charge usage learnt after the request (e.g. completion tokens), unchecked."""
        ...

    async def aclose(self) -> None: ...


def make_limiter(settings: Settings) -> RateLimiter:
    """Redis when configured (shared by all gateway processes), else in-process."""
    if settings.redis_url:
        from collector.ratelimit._redis import RedisLimiter

        return RedisLimiter.from_url(
            settings.redis_url,
            f"{settings.redis_key_prefix}:rl",
            lease_requests=settings.rate_limit_lease_requests,
        )
    return InProcessLimiter()


def request_limits(
    *,
    key_id: int | None,
    key_label: str | None,
    key_rpm: int | None,
    key_tpm: int | None,
    project: str | None,
    project_rpm: int | None,
    project_tpm: int | None,
    tokens: int,
) -> list[Limit]:
    """The limits one request charges: 1 request on each RPM, ``tokens`` on each TPM."""
    out: list[Limit] = []
    if key_id is not None:
        name = key_label or str(key_id)
        if key_rpm is not None:
            out.append(Limit(f"key:{key_id}:rpm", key_rpm, 1, f"requests per minute of key {name}"))
        if key_tpm is not None:
            out.append(
                Limit(f"key:{key_id}:tpm", key_tpm, tokens, f"tokens per minute of key {name}")
            )
    if project is not None:
        if project_rpm is not None:
            label = f"requests per minute of project {project}"
            out.append(Limit(f"project:{project}:rpm", project_rpm, 1, label))
        if project_tpm is not None:
            label = f"tokens per minute of project {project}"
            out.append(Limit(f"project:{project}:tpm", project_tpm, tokens, label))
    return out


def __getattr__(name: str) -> Any:
    """``RedisLimiter`` on first use, so a gateway without Redis never imports its client."""
    if name == "RedisLimiter":
        from collector.ratelimit._redis import RedisLimiter

        return RedisLimiter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
