"""The admission policy a gateway process caches: budget definitions and project limits.

Reloaded at most every ``budget_cache_ttl_s``; when the database is unreachable the last good
copy keeps serving (``stale``), so a blip does not change admission decisions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from collector.budgets._spec import BudgetSpec
from collector.budgets._store import load_budgets
from collector.db import Project, session_scope

_log = logging.getLogger("collector.budgets")


@dataclass(frozen=True, slots=True)
class ProjectLimits:
    rpm: int | None
    tpm: int | None


@dataclass(frozen=True, slots=True)
class Policy:
    budgets: tuple[BudgetSpec, ...] = ()
    projects: dict[str, ProjectLimits] = field(default_factory=dict)


def load_policy(engine: Engine) -> Policy:
    budgets = tuple(load_budgets(engine))
    with session_scope(engine) as session:
        rows = session.execute(select(Project.name, Project.rpm_limit, Project.tpm_limit)).all()
    return Policy(budgets, {name: ProjectLimits(rpm, tpm) for name, rpm, tpm in rows})


class PolicyCache:
    """TTL cache of :class:`Policy`; ``get`` raises SQLAlchemyError only with no copy at all."""

    def __init__(self, engine: Engine, ttl_s: float) -> None:
        self._engine = engine
        self._ttl = ttl_s
        self._policy: Policy | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    @property
    def current(self) -> Policy | None:
        """The cached copy, however old (None before the first load)."""
        return self._policy

    async def get(self) -> Policy:
        if self._policy is not None and time.monotonic() - self._loaded_at < self._ttl:
            return self._policy
        async with self._lock:
            if self._policy is not None and time.monotonic() - self._loaded_at < self._ttl:
                return self._policy
            try:
                self._policy = await asyncio.to_thread(load_policy, self._engine)
            except SQLAlchemyError:
                if self._policy is None:
                    raise
                _log.warning("budget policy reload failed; serving the cached copy")
            self._loaded_at = time.monotonic()
            return self._policy
