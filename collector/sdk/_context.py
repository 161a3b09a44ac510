"""Attribution scopes and call records, kept in context variables.

A ``with attribute(...)`` block pushes a ``Scope`` onto a context-local stack: every request
an instrumented client sends inside the block carries the merged attribution, in this thread
or asyncio task only (a task inherits the scopes of the code that created it). The scope also
collects the ``CallRecord`` of each response it saw, so a block can read its own cost.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from collector.sdk._validate import (
    MAX_TAGS,
    check_metadata,
    check_tags,
    check_user,
    encode_metadata,
)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What the gateway said about one response: its request id and, when known, its cost.

    ``cost_usd`` is None for streams (the cost is known only after the last byte) and for
    requests without a known price; the request id is then the way to look it up later.
    In direct mode the gateway has not seen the call yet: ``request_id`` and ``cost_usd``
    are None and ``event_id`` is the id the call is reported under.
    """

    request_id: str | None
    cost_usd: Decimal | None
    status_code: int
    method: str
    path: str
    stream: bool
    upstream_request_id: str | None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class Attribution:
    """The user, tags and metadata a request is sent with."""

    user: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def checked(
        cls,
        user: str | None = None,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Attribution:
        """Validated values; ValueError names what is wrong."""
        return cls(check_user(user), check_tags(tags), check_metadata(metadata))

    def then(self, inner: Attribution) -> Attribution:
        """``inner`` layered over this one: its user wins, tags and metadata are merged."""
        return Attribution(
            inner.user if inner.user is not None else self.user,
            {**self.tags, **inner.tags},
            {**self.metadata, **inner.metadata},
        )


class Scope:
    """One ``attribute()`` block: what it adds, and the calls answered inside it."""

    def __init__(self, attribution: Attribution) -> None:
        self.attribution = attribution
        self._calls: list[CallRecord] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> list[CallRecord]:
        """The responses seen inside the block (from every thread and task that inherited it)."""
        with self._lock:
            return list(self._calls)

    @property
    def cost_usd(self) -> Decimal:
        """Sum of the costs the gateway reported (streams and unpriced calls add nothing)."""
        return sum((c.cost_usd for c in self.calls if c.cost_usd is not None), Decimal(0))

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._calls.append(record)


_SCOPES: ContextVar[tuple[Scope, ...]] = ContextVar("spendscope_scopes", default=())
_LAST_CALL: ContextVar[CallRecord | None] = ContextVar("spendscope_last_call", default=None)


def merged(base: Attribution) -> Attribution:
    """``base`` (the client's own) with every open scope layered over it, outermost first."""
    result = base
    for scope in _SCOPES.get():
        result = result.then(scope.attribution)
    return result


@contextmanager
def attribute(
    *,
    user: str | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Iterator[Scope]:
    """Attribute every request sent inside the block (this thread or task) to these values.

    Blocks nest: an inner user replaces an outer one; tags and metadata are merged, inner
    keys winning. Raises ValueError at once for values the gateway would refuse.
    """
    scope = Scope(Attribution.checked(user, tags, metadata))
    stack = _SCOPES.get()
    combined = merged(Attribution())
    combined = combined.then(scope.attribution)
    if len(combined.tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per request, nested blocks together")
    encode_metadata(combined.metadata)
    token = _SCOPES.set((*stack, scope))
    try:
        yield scope
    finally:
        _SCOPES.reset(token)


def record_call(record: CallRecord) -> None:
    """Remember ``record`` as this context's last call and in every open scope."""
    _LAST_CALL.set(record)
    for scope in _SCOPES.get():
        scope.add(record)


def last_call() -> CallRecord | None:
    """The last response an instrumented client received in this thread or task."""
    return _LAST_CALL.get()
