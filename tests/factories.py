"""Factories for rows and events, so tests state only what they care about."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from collector.db import ApiKey, Project, session_scope
from collector.recorder import AttemptEvent, UsageEvent, new_request_id

_seq = itertools.count(1)
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_event(**overrides: Any) -> UsageEvent:
    """A successful, computed-cost chat request with one attempt, unless told otherwise."""
    # only events without a time take one from the sequence, so tests that write thousands
    # of timed events do not push later tests' default times past their windows
    started = overrides.pop("started_at", None)
    if started is None:
        started = T0 + timedelta(seconds=next(_seq))
    attempts = overrides.pop("attempts", None)
    event = UsageEvent(
        id=overrides.pop("id", new_request_id()),
        started_at=started,
        duration_ms=overrides.pop("duration_ms", 120.0),
        endpoint=overrides.pop("endpoint", "/v1/chat/completions"),
        outcome=overrides.pop("outcome", "success"),
        cost_source=overrides.pop("cost_source", "computed"),
        model_requested=overrides.pop("model_requested", "gpt-4o-mini"),
        model_served=overrides.pop("model_served", "gpt-4o-mini-2024-07-18"),
        http_status=overrides.pop("http_status", 200),
        prompt_tokens=overrides.pop("prompt_tokens", 100),
        completion_tokens=overrides.pop("completion_tokens", 20),
        cost_usd=overrides.pop("cost_usd", Decimal("0.0000270000")),
        **overrides,
    )
    if attempts is None:
        attempts = [
            AttemptEvent(
                attempt_no=1,
                started_at=started,
                duration_ms=event.duration_ms,
                model=event.model_served,
                http_status=event.http_status,
                prompt_tokens=event.prompt_tokens,
                completion_tokens=event.completion_tokens,
                cost_usd=event.cost_usd,
            )
        ]
    event.attempts = attempts
    return event


def make_project(engine: Engine, name: str = "acme") -> int:
    with session_scope(engine) as session:
        project = Project(name=name, created_at=T0)
        session.add(project)
        session.flush()
        return project.id


def make_key(engine: Engine, project_id: int, prefix: str = "sk-ss-test") -> int:
    with session_scope(engine) as session:
        key = ApiKey(
            project_id=project_id,
            key_hash=f"{next(_seq):064x}",
            prefix=prefix,
            tags={},
            created_at=T0,
        )
        session.add(key)
        session.flush()
        return key.id
