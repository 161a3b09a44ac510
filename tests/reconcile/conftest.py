"""Reconciliation fixtures: a mock upstream per test (its ledger and drift are per test), a real
gateway recording into SQLite or PostgreSQL, and the CLI run in-process with real settings."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from collector.cli import app
from collector.mock_upstream import MockConfig, run_in_thread
from collector.mock_upstream._ledger import mock_key_id
from collector.settings import get_settings
from tests.alerts.conftest import receiver, smtp  # noqa: F401 - fixtures for these tests
from tests.gateway._support import UPSTREAM_KEY, Gateway
from tests.gateway.conftest import _factory

ADMIN_KEY = "sk-admin-reconcile-test-key"
GATEWAY_KEY_ID = mock_key_id(UPSTREAM_KEY)


@dataclass
class Stack:
    """A mock upstream (the fake OpenAI, admin APIs included) and a gateway in front of it."""

    mock_url: str
    gateway: Gateway
    db_url: str
    monkeypatch: pytest.MonkeyPatch

    def reconcile(self, *args: str, **env: str) -> tuple[int, str, str]:
        """Run ``spendscope reconcile ARGS`` against the mock's admin APIs: (code, out, err)."""
        settings = {
            "SPENDSCOPE_DATABASE_URL": self.db_url,
            "SPENDSCOPE_OPENAI_ADMIN_KEY": ADMIN_KEY,
            "SPENDSCOPE_OPENAI_ADMIN_BASE_URL": self.mock_url,
            "SPENDSCOPE_OPENAI_KEY_IDS": json.dumps({"default": GATEWAY_KEY_ID}),
        }
        settings.update(env)
        for name, value in settings.items():
            if value:
                self.monkeypatch.setenv(name, value)
            else:
                self.monkeypatch.delenv(name, raising=False)
        get_settings.cache_clear()
        result = CliRunner().invoke(app, ["reconcile", *args])
        get_settings.cache_clear()
        return result.exit_code, result.stdout, result.stderr


StackFactory = Callable[..., Stack]


@pytest.fixture
def stack(
    migrated_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StackFactory]:
    """``stack(**mock_config)``: a fresh mock (with that config) and a gateway over it."""
    with ExitStack() as stop:

        def start(**config: Any) -> Stack:
            options: dict[str, Any] = {"admin_key": ADMIN_KEY, "retry_after_s": 0.01}
            url = stop.enter_context(run_in_thread(MockConfig(**(options | config))))
            factory = stop.enter_context(contextmanager(_factory)(migrated_url, tmp_path, url))
            return Stack(url, factory(), migrated_url, monkeypatch)

        yield start
