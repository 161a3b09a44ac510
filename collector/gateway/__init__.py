"""The gateway: an OpenAI-compatible proxy that meters every request it relays.

Apps point their OpenAI SDK's ``base_url`` at ``http://HOST:PORT/v1`` and use a spendscope
virtual key. Each request is admitted (key, attribution, the :class:`AdmissionPolicy` hook),
forwarded with retries and fallbacks, relayed (streams pass through as they arrive), priced
and handed to the recorder — never waiting on the database.
"""

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
