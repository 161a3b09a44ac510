"""Login for the dashboard: a Flask login page, a signed session cookie, and a guard on every route.

Nothing but the login page and static assets is served without a session, unless
anonymous access is configured (then visitors are read-only viewers). The session carries
the user name, role and a server-side session id; the role is re-read from the
configuration on each request, so removing a user or demoting them takes effect at once,
and signing out (a POST with the CSRF token) ends the session on the server. Password
guesses are throttled per user name and per client address (see ``_sessions``).
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
from dashboard._sessions import LoginThrottle, SessionStore
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
    secure_cookies: bool = False


@dataclass(frozen=True, slots=True)
class _Auth:
    """The access configuration plus the server-side state of sign-ins."""

    access: AccessConfig
    sessions: SessionStore
    throttle: LoginThrottle


ANONYMOUS = Principal(name="anonymous", role="viewer", anonymous=True)


def current_principal() -> Principal | None:
    """The principal of the request being served (set by the guard)."""
    principal = flask.g.get("principal")
    return principal if isinstance(principal, Principal) else None


def _principal_from_session(auth: _Auth) -> Principal | None:
    name = flask.session.get("user")
    user = auth.access.users.get(name) if isinstance(name, str) else None
    if user is None or not auth.sessions.is_live(flask.session.get("sid"), user.name):
        return ANONYMOUS if auth.access.allow_anonymous else None
    return Principal(name=user.name, role=user.role)


def _guard(auth: _Auth) -> Response | None:
    path = flask.request.path
    if path in (LOGIN_PATH, LOGOUT_PATH) or path.startswith(_PUBLIC_PREFIXES):
        return None
    principal = _principal_from_session(auth)
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
    html = flask.render_template_string(
        LOGIN_TEMPLATE, error=error, csrf=csrf_token(), next=safe_next(_requested_next())
    )
    return Response(html, status=status, mimetype="text/html")


def _check_credentials(access: AccessConfig, name: str, password: str) -> DashboardUser | None:
    user = access.users.get(name)
    ok = verify_password(password, user.password_hash if user else dummy_hash())
    return user if ok and user is not None else None


def csrf_token() -> str:
    """This session's CSRF token (made on first use); forms that change state carry it."""
    token = flask.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = flask.session["csrf"] = secrets.token_urlsafe(24)
    return token


def _csrf_ok() -> bool:
    sent = flask.request.form.get("csrf", "")
    return secrets.compare_digest(sent, str(flask.session.get("csrf", "")))


def _login(auth: _Auth) -> Response:
    if flask.request.method == "GET":
        return _render_login(None)
    if not _csrf_ok():
        return _render_login("Your sign-in form expired. Please try again.", 400)
    name = flask.request.form.get("username", "")
    keys = (f"user:{name[:200]}", f"ip:{flask.request.remote_addr}")
    wait = auth.throttle.wait_s(*keys)
    if wait > 0:
        auth.throttle.failed(*keys)  # guessing while locked out keeps it locked
        message = f"Too many failed sign-ins. Try again in {max(1, round(wait))} s."
        return _render_login(message, 429)
    user = _check_credentials(auth.access, name, flask.request.form.get("password", ""))
    if user is None:
        auth.throttle.failed(*keys)
        return _render_login("Wrong user name or password.", 401)
    auth.throttle.succeeded(keys[0])
    flask.session.clear()
    flask.session.permanent = True
    flask.session["user"] = user.name
    flask.session["role"] = user.role
    flask.session["sid"] = auth.sessions.open(user.name)
    flask.session["csrf"] = secrets.token_urlsafe(24)
    return flask.redirect(safe_next(flask.request.form.get("next")))


def _logout(auth: _Auth) -> Response:
    """POST only, with the session's CSRF token: a link elsewhere cannot sign anyone out."""
    if flask.request.method != "POST":
        return Response("sign out with POST", 405, {"Allow": "POST"}, mimetype="text/plain")
    if not _csrf_ok():
        return Response('{"error": "bad or missing csrf token"}', 400, mimetype="application/json")
    auth.sessions.close(flask.session.get("sid"))
    flask.session.clear()
    return flask.redirect(LOGIN_PATH)


def install_auth(server: flask.Flask, access: AccessConfig, secret_key: str) -> None:
    """Add the login and logout routes and the guard that protects every other route."""
    auth = _Auth(access, SessionStore(_SESSION_HOURS * 3600.0), LoginThrottle())
    server.secret_key = secret_key
    server.config.update(
        SESSION_COOKIE_NAME="spendscope_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=access.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=_SESSION_HOURS),
    )
    server.before_request(lambda: _guard(auth))
    server.add_url_rule(
        LOGIN_PATH, "spendscope_login", lambda: _login(auth), methods=["GET", "POST"]
    )
    server.add_url_rule(
        LOGOUT_PATH, "spendscope_logout", lambda: _logout(auth), methods=["GET", "POST"]
    )
