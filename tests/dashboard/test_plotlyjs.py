"""The dashboard serves plotly.js's basic bundle (not the 4.8 MB full one), behind the login,
and builds its first figure beside its start."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from dashboard import create_dash_app, plotlyjs
from tests.dashboard.conftest import ADMIN, login_settings
from tests.dashboard.test_auth import sign_in

PATH = f"/{plotlyjs.DASH_PATH}"


def test_the_vendored_bundle_is_the_version_plotly_ships() -> None:
    # a plotly upgrade must come with the same version's basic bundle (else the full one
    # is served: slower first paint, still correct)
    assert plotlyjs.shipped_version() == plotlyjs.VERSION
    head = plotlyjs.BUNDLE.read_bytes()[:200].decode()
    assert f"plotly.js (basic - minified) v{plotlyjs.VERSION}" in head


def test_basic_bundle_served_with_an_etag_after_login(seeded: tuple[Engine, Any]) -> None:
    client = create_dash_app(login_settings(), seeded[0]).server.test_client()
    assert client.get(PATH).status_code == 401  # nothing without a session
    sign_in(client, ADMIN)
    first = client.get(PATH)
    assert first.status_code == 200
    assert first.mimetype == "application/javascript"
    assert first.data == plotlyjs.BUNDLE.read_bytes()
    assert len(first.data) < 1_500_000  # the full bundle is 4.8 MB
    etag = first.headers["ETag"]
    again = client.get(PATH, headers={"If-None-Match": etag})
    assert (again.status_code, again.data) == (304, b"")
    # Dash's other bundles are still Dash's
    other = client.get("/_dash-component-suites/dash/dcc/dash_core_components.js")
    assert other.status_code == 200 and b"plotly.js (basic" not in other.data[:500]


def test_the_app_builds_a_figure_beside_its_start(seeded: tuple[Engine, Any]) -> None:
    """plotly.py's first figure (validators, template) is paid in a thread, not a request."""
    app = create_dash_app(login_settings(), seeded[0])
    warm = app.server.extensions["spendscope.figure_warm_up"]
    assert isinstance(warm, threading.Thread) and warm.daemon
    warm.join(30)
    assert not warm.is_alive()
