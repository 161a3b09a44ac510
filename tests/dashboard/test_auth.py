"""Login: salted hashes, configured users and roles, and nothing served without a session."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from collector.errors import SettingsError
from collector.settings import Settings
from dashboard import create_dash_app
from dashboard.passwords import hash_password, parse_users, verify_password
from tests.dashboard.conftest import ADMIN, SECRET, VIEWER, login_settings

# Made by the hand-written scrypt code of earlier versions (salt bytes(range(16))).
OLD_FORMAT = (
    "scrypt$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$sQt2Crs2dAAI+hZ3J/UFLcVWnMr/iKmU3PIVM7cvy3Y="
)


def test_hash_is_salted_and_verifies() -> None:
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and first.startswith("scrypt:32768:8:1$")  # werkzeug's scrypt
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("S3cret", first)


def test_a_hash_in_the_old_format_still_verifies_from_the_user_list() -> None:
    assert verify_password("s3cret", OLD_FORMAT)
    assert not verify_password("S3cret", OLD_FORMAT)
    users = parse_users(f"carol:viewer:{OLD_FORMAT},dave:admin:{hash_password('pw')}")
    assert verify_password("s3cret", users["carol"].password_hash)
    assert verify_password("pw", users["dave"].password_hash)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("alice:admin", "not 'name:role:hash'"),
        ("alice:boss:scrypt$1$1$1$AA==$AA==", "expected admin or viewer"),
        ("alice:admin:plaintext", "not a password hash"),
        ("alice:admin:md5:1$salt$abc", "not a password hash"),
        ("alice:admin:scrypt$1$1$1$not base64$AA==", "malformed password hash"),
    ],
)
def test_bad_user_entries_are_named(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_users(spec)


def test_users_parse_with_roles() -> None:
    h = hash_password("pw")
    users = parse_users(f"alice:admin:{h}, bob:viewer:{h},")
    assert {n: u.role for n, u in users.items()} == {"alice": "admin", "bob": "viewer"}


def test_refuses_to_start_without_logins_or_secret() -> None:
    with pytest.raises(SettingsError, match="SPENDSCOPE_DASHBOARD_USERS"):
        create_dash_app(Settings())
    with pytest.raises(SettingsError, match="SPENDSCOPE_DASHBOARD_SECRET_KEY"):
        create_dash_app(login_settings(dashboard_secret_key="short"))


@pytest.fixture
def client(seeded: tuple[Engine, Any]) -> FlaskClient:
    return create_dash_app(login_settings(), seeded[0]).server.test_client()


def sign_in(client: FlaskClient, user: tuple[str, str], next_: str = "/") -> Any:
    client.get(f"/login?next={next_}")
    with client.session_transaction() as session:
        csrf = session["csrf"]
    form = {"username": user[0], "password": user[1], "csrf": csrf, "next": next_}
    return client.post("/login", data=form)


def test_nothing_is_served_without_a_session(client: FlaskClient) -> None:
    page = client.get("/spend?range=30d")
    assert page.status_code == 302
    assert page.headers["Location"] == "/login?next=%2Fspend%3Frange%3D30d"
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.get("/assets/10-spendscope.css").status_code == 200  # the login page's style


def test_sign_in_sets_a_signed_session_with_the_role(client: FlaskClient) -> None:
    answer = sign_in(client, VIEWER, next_="/requests")
    assert answer.status_code == 302 and answer.headers["Location"] == "/requests"
    with client.session_transaction() as session:
        assert session["user"] == VIEWER[0] and session["role"] == "viewer"
    assert client.get("/_dash-layout").status_code == 200
    assert b"viewer" in client.get("/_dash-layout").data
    with client.session_transaction() as session:
        csrf = session["csrf"]
    assert client.post("/logout", data={"csrf": csrf}).status_code == 302
    assert client.get("/_dash-layout").status_code == 401


def test_wrong_password_and_forged_form_are_refused(client: FlaskClient) -> None:
    assert sign_in(client, (ADMIN[0], "nope")).status_code == 401
    assert sign_in(client, ("mallory", "x")).status_code == 401
    forged = client.post("/login", data={"username": ADMIN[0], "password": ADMIN[1]})
    assert forged.status_code == 400  # no CSRF token from our form


def test_next_never_leaves_the_site(client: FlaskClient) -> None:
    answer = sign_in(client, ADMIN, next_="//evil.example/x")
    assert answer.headers["Location"] == "/"


def test_a_tampered_cookie_is_not_a_session(seeded: tuple[Engine, Any]) -> None:
    other = create_dash_app(
        login_settings(dashboard_secret_key=SECRET[::-1]), seeded[0]
    ).server.test_client()
    client = create_dash_app(login_settings(), seeded[0]).server.test_client()
    sign_in(other, ADMIN)
    cookie = other.get_cookie("spendscope_session")
    assert cookie is not None
    client.set_cookie("spendscope_session", cookie.value)
    assert client.get("/_dash-layout").status_code == 401


def test_anonymous_access_is_read_only_viewer(seeded: tuple[Engine, Any]) -> None:
    app = create_dash_app(Settings(dashboard_allow_anonymous=True), seeded[0])
    client = app.server.test_client()
    layout = client.get("/_dash-layout")
    assert layout.status_code == 200 and b"read-only" in layout.data
