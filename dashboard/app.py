"""``create_dash_app``: the Dash app with its pages, theme, login and per-app resources."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import dash
import flask
from sqlalchemy import Engine

from collector.db import make_engine
from collector.errors import SettingsError
from collector.secrets import install_log_redaction
from collector.settings import Settings
from dashboard import figures, plotlyjs, shell
from dashboard.auth import AccessConfig, install_auth
from dashboard.context import Resources, attach, utc_now
from dashboard.pages import (
    batches,
    budgets,
    latency,
    overview,
    reconciliation,
    reliability,
    requests,
    spend,
)
from dashboard.passwords import parse_users

ASSETS = Path(__file__).parent / "assets"
PAGE_MODULES = (overview, spend, reliability, latency, requests, batches, budgets, reconciliation)
_MIN_SECRET = 32


def access_config(settings: Settings) -> tuple[AccessConfig, str]:
    """Who may sign in, and the cookie-signing key; SettingsError (one line) when unusable."""
    try:
        users = parse_users(settings.dashboard_users)
    except ValueError as exc:
        raise SettingsError(f"invalid setting SPENDSCOPE_DASHBOARD_USERS: {exc}") from None
    if not users and not settings.dashboard_allow_anonymous:
        raise SettingsError(
            "the dashboard has no logins: set SPENDSCOPE_DASHBOARD_USERS='name:admin:<hash>' "
            "(hash from `spendscope dashboard hash-password`) or "
            "SPENDSCOPE_DASHBOARD_ALLOW_ANONYMOUS=true"
        )
    secret = settings.dashboard_secret_key
    if users and (secret is None or len(secret.get_secret_value()) < _MIN_SECRET):
        raise SettingsError(
            f"set SPENDSCOPE_DASHBOARD_SECRET_KEY to at least {_MIN_SECRET} random characters "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    key = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
    access = AccessConfig(
        users=users,
        allow_anonymous=settings.dashboard_allow_anonymous,
        secure_cookies=settings.dashboard_secure_cookies,
    )
    return access, key


def _quick(settings: Settings) -> dict[str, Any]:
    """A short connect timeout for the lag probe: a primary that is down must not hang pages."""
    if settings.database_url.startswith("sqlite"):
        return {}
    return {"connect_args": {"connect_timeout": 3}, "pool_size": 1, "max_overflow": 1}


def create_dash_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
) -> dash.Dash:
    """The dashboard as a Dash app (its Flask server is ``app.server``).

    ``engine`` defaults to one built from the settings (connecting lazily); ``clock`` gives
    "now" (tests pin it). Every page reads ``engine``: with ``SPENDSCOPE_READ_DATABASE_URL``
    set, the replica's; the primary is then opened only to measure the replica's lag.
    Raises SettingsError when logins are not configured.
    """
    install_log_redaction()
    access, secret_key = access_config(settings)
    server = flask.Flask("spendscope.dashboard")
    install_auth(server, access, secret_key)
    timeout = settings.sqlite_busy_timeout_ms
    engine = engine or make_engine(settings.read_url, busy_timeout_ms=timeout)
    primary = None
    if settings.reads_from_replica:
        primary = make_engine(settings.database_url, busy_timeout_ms=timeout, **_quick(settings))
    resources = Resources(engine=engine, settings=settings, clock=clock, primary=primary)
    attach(server, resources)
    app = dash.Dash(
        "dashboard",
        server=server,
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS),
        title="spendscope",
        update_title="",
        suppress_callback_exceptions=True,
    )
    plotlyjs.install(server, app.config.requests_pathname_prefix)
    for page in PAGE_MODULES:
        page.register(app)
    app.layout = shell.layout
    shell.register_callbacks(app)
    # plotly.py's first figure costs ~260 ms: pay it now, beside the start, not in a request
    warm = threading.Thread(target=figures.warm_up, name="figure-warm-up", daemon=True)
    server.extensions["spendscope.figure_warm_up"] = warm
    warm.start()
    return app
