"""A virtual key from an ``Authorization: Bearer`` header, for ``/v1`` and the ingest routes."""

from __future__ import annotations

from collector.errors import AuthenticationFailed, GatewayError, StorageError
from collector.gateway._runtime import Runtime
from collector.keys import KeyPrincipal

NO_KEY = (
    "You didn't provide an API key. Send your spendscope virtual key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
BAD_KEY = "Incorrect API key provided: the key is unknown or has been revoked."


async def authenticate(runtime: Runtime, authorization: str | None) -> KeyPrincipal:
    """The key's principal; 401 without a known key, 500 while the key store is down."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise AuthenticationFailed(NO_KEY)
    try:
        principal = await runtime.principal(key)
    except StorageError:
        raise GatewayError(
            "The key store is unavailable; please retry shortly.", code="key_store_unavailable"
        ) from None
    if principal is None:
        raise AuthenticationFailed(BAD_KEY)
    return principal
