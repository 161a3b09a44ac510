"""Helpers for gateway tests: a running gateway with its database, keys, scenarios."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import openai
from sqlalchemy import Engine, select

from collector.db import Attempt, Request, session_scope
from collector.keys import create_key, revoke_key
from tests.gateway._server import GatewayServer

UPSTREAM_KEY = "sk-upstream-held-by-the-gateway"


class Gateway:
    """A running gateway plus the database it records into."""

    def __init__(self, server: GatewayServer, engine: Engine) -> None:
        self.server = server
        self.engine = engine
        self.base_url = server.base_url

    def key(self, **options: Any) -> str:
        return virtual_key(self.engine, **options)

    def client(self, key: str | None = None, **options: Any) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=self.base_url, api_key=key or self.key(), max_retries=0, **options
        )

    def async_client(self, key: str | None = None) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key or self.key(), max_retries=0)

    def requests(self) -> list[Request]:
        """Every recorded request, oldest first (after the recorder flushed)."""
        self.server.flush()
        with session_scope(self.engine) as session:
            return list(session.scalars(select(Request).order_by(Request.id)))

    def request(self, request_id: str) -> Request:
        rows = [r for r in self.requests() if r.id == request_id]
        assert rows, f"request {request_id} was not recorded"
        return rows[0]

    def only_request(self) -> Request:
        rows = self.requests()
        assert len(rows) == 1, [(r.endpoint, r.outcome) for r in rows]
        return rows[0]

    def attempts(self, request_id: str) -> list[Attempt]:
        with session_scope(self.engine) as session:
            query = select(Attempt).where(Attempt.request_id == request_id)
            return list(session.scalars(query.order_by(Attempt.attempt_no)))


def virtual_key(
    engine: Engine,
    *,
    project: str = "acme",
    user: str | None = None,
    tags: dict[str, str] | None = None,
    revoked: bool = False,
) -> str:
    """A real virtual key row (hash only), created the way ``spendscope keys create`` does."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        created = create_key(
            session, project=project, user=user, tags=tags or {}, rpm=None, tpm=None,
            name=None, now=now,
        )  # fmt: skip
    if revoked:
        with session_scope(engine) as session:
            revoke_key(session, created.raw_key, now)
    return created.raw_key


GatewayFactory = Callable[..., Gateway]


def scenario() -> dict[str, str]:
    """A fresh ``x-mock-scenario`` id, so fault sequences never leak between tests."""
    return {"x-mock-scenario": uuid.uuid4().hex}
