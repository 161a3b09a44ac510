"""The gateway: an OpenAI-compatible proxy that meters every request it relays.

Apps point their OpenAI SDK's ``base_url`` at ``http://HOST:PORT/v1`` and use a spendscope
virtual key. Each request is admitted (key, attribution, the :class:`AdmissionPolicy` hook),
forwarded with retries and fallbacks, relayed (streams pass through as they arrive), priced
and handed to the recorder — never waiting on the database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.admission import AdmissionPolicy, AdmissionRequest, AllowAll, Reservation
    from collector.gateway._app import check_settings, create_app

__all__ = [
    "AdmissionPolicy",
    "AdmissionRequest",
    "AllowAll",
    "Reservation",
    "check_settings",
    "create_app",
]
_HOMES = {"check_settings": "_app", "create_app": "_app"}  # the rest: collector.admission


def __getattr__(name: str) -> Any:
    """The names above load their modules when first asked for, so importing one of the
    gateway's own modules does not import them all: the serving program's supervisor of
    several workers holds uvicorn alone (27 MB peak, against 55 MB with the admission's
    key store, SQLAlchemy and the models imported)."""
    if name in _HOMES:
        from collector.gateway import _app

        return getattr(_app, name)
    if name in __all__:
        import collector.admission

        return getattr(collector.admission, name)
    raise AttributeError(name)
