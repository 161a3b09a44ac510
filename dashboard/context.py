"""What callbacks share per app (engines, settings, clock): kept on the Flask app, not in globals.

Two apps in one process (tests do this) each keep their own; per-user state never lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import flask
from sqlalchemy import Engine

from collector.settings import Settings

_KEY = "spendscope"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Resources:
    """The app's long-lived resources."""

    engine: Engine  # what every page reads: the read replica's when one is configured
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    primary: Engine | None = None  # the primary's, only to measure the replica's lag

    def now(self) -> datetime:
        return self.clock()


def attach(server: flask.Flask, resources: Resources) -> None:
    server.extensions[_KEY] = resources


def resources() -> Resources:
    """The resources of the app serving the current request (callbacks run inside one)."""
    found = flask.current_app.extensions[_KEY]
    assert isinstance(found, Resources)  # noqa: S101 - type narrowing: attach() stores Resources
    return found
