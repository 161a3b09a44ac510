"""Login for the dashboard: a Flask login page, a signed session cookie, and a guard on every route.

Nothing but the login page and static assets is served without a session, unless
anonymous access is configured (then visitors are read-only viewers). The session carries
the user name and role; the role is re-read from the configuration on each request, so
removing a user or demoting them takes effect at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import flask
from werkzeug.wrappers import Response

from dashboard._login_page import LOGIN_TEMPLATE
from dashboard._redirect import safe_next
from dashboard.passwords import DashboardUser, Role, dummy_hash, verify_password

LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
_PUBLIC_PREFIXES = ("/assets/", "/_favicon.ico", "/favicon.ico")
_SESSION_HOURS = 12


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is looking: the signed-in user, or the anonymous viewer."""

    name: str
    role: Role
    anonymous: bool = False


@dataclass(frozen=True, slots=True)
class AccessConfig:
    """The logins the dashboard accepts."""

    users: dict[str, DashboardUser]
    allow_anonymous: bool


ANONYMOUS = Principal(name="anonymous", role="viewer", anonymous=True)


def current_principal() -> Principal | None:
    """The principal of the request being served (set by the guard)."""
    principal = flask.g.get("principal")
    return principal if isinstance(principal, Principal) else None


def _principal_from_session(access: AccessConfig) -> Principal | None:
    name = flask.session.get("user")
    user = access.users.get(name) if isinstance(name, str) else None
    if user is None:
        return ANONYMOUS if access.allow_anonymous else None
    return Principal(name=user.name, role=user.role)


def _guard(access: AccessConfig) -> Response | None:
    path = flask.request.path
    if path in (LOGIN_PATH, LOGOUT_PATH) or path.startswith(_PUBLIC_PREFIXES):
        return None
    principal = _principal_from_session(access)
    if principal is not None:
        flask.g.principal = principal
        return None
    if flask.request.method == "GET" and not path.startswith("/_dash-"):
        target = flask.request.full_path.rstrip("?")
        return flask.redirect(f"{LOGIN_PATH}?{urlencode({'next': target})}")
    return Response('{"error": "login required"}', status=401, mimetype="application/json")


def _requested_next() -> str | None:
    """Where to go after signing in: the form's ``next`` on a retry, else the query's."""
    return flask.request.form.get("next") or flask.request.args.get("next")


def _render_login(error: str | None, status: int = 200) -> Response:
    token = flask.session.setdefault("csrf", secrets.token_urlsafe(24))
    html = flask.render_template_string(
        LOGIN_TEMPLATE, error=error, csrf=token, next=safe_next(_requested_next())
    )
    return Response(html, status=status, mimetype="text/html")


def _check_credentials(access: AccessConfig, name: str, password: str) -> DashboardUser | None:
    user = access.users.get(name)
    ok = verify_password(password, user.password_hash if user else dummy_hash())
    return user if ok and user is not None else None


def _login(access: AccessConfig) -> Response:
    if flask.request.method == "GET":
        return _render_login(None)
    form = flask.request.form
    if not secrets.compare_digest(form.get("csrf", ""), str(flask.session.get("csrf", ""))):
        return _render_login("Your sign-in form expired. Please try again.", 400)
    user = _check_credentials(access, form.get("username", ""), form.get("password", ""))
    if user is None:
        return _render_login("Wrong user name or password.", 401)
    flask.session.clear()
    flask.session.permanent = True
    flask.session["user"] = user.name
    flask.session["role"] = user.role
    return flask.redirect(safe_next(form.get("next")))


def _logout() -> Response:
    flask.session.clear()
    return flask.redirect(LOGIN_PATH)


def install_auth(server: flask.Flask, access: AccessConfig, secret_key: str) -> None:
    """Add the login and logout routes and the guard that protects every other route."""
    server.secret_key = secret_key
    server.config.update(
        SESSION_COOKIE_NAME="spendscope_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=_SESSION_HOURS),
    )
    server.before_request(lambda: _guard(access))
    server.add_url_rule(
        LOGIN_PATH, "spendscope_login", lambda: _login(access), methods=["GET", "POST"]
    )
    server.add_url_rule(LOGOUT_PATH, "spendscope_logout", _logout, methods=["GET", "POST"])
