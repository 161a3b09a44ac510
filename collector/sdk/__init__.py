"""SDK middleware for apps using the official ``openai`` package (sync and async).

    from openai import OpenAI
    from collector import sdk as spendscope

    client = spendscope.spendscope_client(
        OpenAI, base_url="http://spendscope.internal:8787/v1", api_key=key, tags={"env": "prod"}
    )
    with spendscope.attribute(user="alice", tags={"feature": "search"}) as scope:
        client.chat.completions.create(...)
    spendscope.last_call().request_id, scope.cost_usd

Direct mode, for apps that must keep talking to OpenAI itself::

    client = spendscope.instrument(
        OpenAI(), ingest_url="http://spendscope.internal:8787/api/ingest", key=virtual_key
    )

Requests carry ``x-spendscope-user/-tags/-metadata``; each response's request id and cost
come back as a ``CallRecord`` (``last_call()``, the scope, an ``on_call`` callback, and the
current OpenTelemetry span when opentelemetry-api is installed). No database, no pandas.
"""

from collector.sdk._client import (
    async_http_client,
    http_client,
    instrument,
    shipper_for,
    spendscope_client,
)
from collector.sdk._context import Attribution, CallRecord, Scope, attribute, last_call
from collector.sdk._hooks import current_traceparent
from collector.sdk._shipper import Shipper

__all__ = [
    "Attribution",
    "CallRecord",
    "Scope",
    "Shipper",
    "async_http_client",
    "attribute",
    "current_traceparent",
    "http_client",
    "instrument",
    "last_call",
    "shipper_for",
    "spendscope_client",
]
