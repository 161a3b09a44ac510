"""The gateway: an OpenAI-compatible proxy that meters every request it relays.

Apps point their OpenAI SDK's ``base_url`` at ``http://HOST:PORT/v1`` and use a spendscope
virtual key. Each request is admitted (key, attribution, the :class:`AdmissionPolicy` hook),
forwarded with retries and fallbacks, relayed (streams pass through as they arrive), priced
and handed to the recorder — never waiting on the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from collector.admission import AdmissionPolicy, AdmissionRequest, AllowAll, Reservation

if TYPE_CHECKING:
    from collector.gateway._app import check_settings, create_app

__all__ = [
    "AdmissionPolicy",
    "AdmissionRequest",
    "AllowAll",
    "Reservation",
    "check_settings",
    "create_app",
]


def __getattr__(name: str) -> Any:
    """``create_app`` and ``check_settings`` load the app's modules when first asked for, so
    importing one of the gateway's own modules (``serving``) does not import them all."""
    if name in ("check_settings", "create_app"):
        from collector.gateway import _app

        return getattr(_app, name)
    raise AttributeError(name)
