"""Row 9: signing out ends the session on the server; logout is a POST with the CSRF token;
password guessing is throttled per user and per address; cookies can be marked Secure."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from dashboard import create_dash_app
from dashboard._sessions import FREE_FAILURES, LoginThrottle
from tests.dashboard.conftest import ADMIN, VIEWER, login_settings
from tests.dashboard.test_auth import client, sign_in

__all__ = ["client"]


def _csrf(c: FlaskClient) -> str:
    with c.session_transaction() as session:
        return str(session["csrf"])


def test_the_old_cookie_is_dead_after_sign_out(client: FlaskClient) -> None:
    sign_in(client, ADMIN)
    cookie = client.get_cookie("spendscope_session")
    assert cookie is not None and client.get("/_dash-layout").status_code == 200
    assert client.post("/logout", data={"csrf": _csrf(client)}).status_code == 302
    client.set_cookie("spendscope_session", cookie.value)  # replay the signed-in cookie
    assert client.get("/_dash-layout").status_code == 401


def test_logout_needs_post_and_the_csrf_token(client: FlaskClient) -> None:
    sign_in(client, ADMIN)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 400
    assert client.get("/_dash-layout").status_code == 200  # still signed in
    assert b"csrf" in client.get("/_dash-layout").data  # the sign-out form carries it


def test_guessing_locks_the_user_out_even_for_the_right_password(client: FlaskClient) -> None:
    for _ in range(30):
        assert sign_in(client, (ADMIN[0], "wrong")).status_code in (401, 429)
    answer = sign_in(client, ADMIN)
    assert answer.status_code == 429
    assert b"Too many failed sign-ins" in answer.data


def test_guessing_many_names_from_one_address_is_throttled(client: FlaskClient) -> None:
    for n in range(FREE_FAILURES):
        assert sign_in(client, (f"user{n}", "wrong")).status_code == 401
    assert sign_in(client, VIEWER).status_code == 429


def test_lockouts_double_and_end() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES - 1):
        throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 0
    throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 1.0
    throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 2.0
    now[0] = 2.0
    assert throttle.wait_s("user:a") == 0
    throttle.succeeded("user:a")
    throttle.failed("user:a")
    assert throttle.wait_s("user:a") == 0


def test_cookie_flags(seeded: tuple[Engine, Any]) -> None:
    for secure in (False, True):
        app = create_dash_app(login_settings(dashboard_secure_cookies=secure), seeded[0])
        answer = sign_in(app.server.test_client(), ADMIN)
        cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure
