"""Bearer tokens for the admin and report APIs: ``admin`` (full rights) or ``viewer`` (reads).

Tokens come only from settings (``SPENDSCOPE_ADMIN_TOKEN``, ``SPENDSCOPE_VIEWER_TOKENS``) and
are compared in constant time. With no token configured the APIs answer 503 naming the
variable to set — they are never served anonymously. ``/metrics`` has a token of its own
(``SPENDSCOPE_METRICS_TOKEN``), optional like the open ``/healthz``.
"""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import Annotated, ClassVar

from fastapi import Depends, Request

from collector.errors import AuthenticationFailed, GatewayError
from collector.settings import Settings


class Role(StrEnum):
    VIEWER = "viewer"  # GET only
    ADMIN = "admin"  # everything


class PermissionDenied(GatewayError):
    """403: a valid token without the rights the route needs (a viewer on a write)."""

    status: ClassVar[int] = 403
    type: ClassVar[str] = "invalid_request_error"
    code: ClassVar[str | None] = "permission_denied"
    should_retry: ClassVar[bool | None] = False


class AdminApiDisabled(GatewayError):
    """503: no token is configured, so nobody may use the API (rather than everybody)."""

    status: ClassVar[int] = 503
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = "admin_api_disabled"
    should_retry: ClassVar[bool | None] = False


_CHALLENGE = {"www-authenticate": "Bearer"}


def viewer_tokens(settings: Settings) -> list[str]:
    """The configured viewer tokens (blank entries dropped)."""
    return [t.strip() for t in settings.viewer_tokens.split(",") if t.strip()]


def _bearer(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _same(given: bytes, expected: str) -> bool:
    return hmac.compare_digest(given, expected.encode())


def role_for(settings: Settings, authorization: str | None) -> Role:
    """The caller's role from its ``Authorization`` header; raises 503 / 401 as described."""
    admin = (settings.admin_token or "").strip()
    viewers = viewer_tokens(settings)
    if not admin and not viewers:
        raise AdminApiDisabled(
            "the admin API is disabled: set SPENDSCOPE_ADMIN_TOKEN (full rights) and/or "
            "SPENDSCOPE_VIEWER_TOKENS (read-only, comma-separated) on the gateway"
        )
    token = _bearer(authorization)
    if token is None:
        raise AuthenticationFailed(
            "missing bearer token: send 'Authorization: Bearer <token>'", headers=_CHALLENGE
        )
    given = token.encode()
    is_admin = bool(admin) and _same(given, admin)
    # Compare with every viewer token (no early exit), so timing tells nothing about which.
    is_viewer = [_same(given, t) for t in viewers].count(True) > 0
    if is_admin:
        return Role.ADMIN
    if is_viewer:
        return Role.VIEWER
    raise AuthenticationFailed("invalid admin API token", headers=_CHALLENGE)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


def require_viewer(request: Request) -> Role:
    """Dependency: any valid token (admin or viewer)."""
    return role_for(_settings(request), request.headers.get("authorization"))


def require_admin(request: Request) -> Role:
    """Dependency: the admin token; a viewer gets 403."""
    role = require_viewer(request)
    if role is not Role.ADMIN:
        raise PermissionDenied("this token is read-only (viewer); writes need the admin token")
    return role


def require_metrics_token(request: Request) -> None:
    """Dependency of ``/metrics``: open like ``/healthz`` unless SPENDSCOPE_METRICS_TOKEN
    is set, then that bearer token (compared in constant time)."""
    expected = (_settings(request).metrics_token or "").strip()
    if not expected:
        return
    token = _bearer(request.headers.get("authorization"))
    if token is None:
        raise AuthenticationFailed(
            "missing bearer token: send 'Authorization: Bearer <token>'", headers=_CHALLENGE
        )
    if not _same(token.encode(), expected):
        raise AuthenticationFailed("invalid metrics token", headers=_CHALLENGE)


ViewerDep = Annotated[Role, Depends(require_viewer)]
AdminDep = Annotated[Role, Depends(require_admin)]
