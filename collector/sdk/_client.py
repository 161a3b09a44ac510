"""Build or wrap official ``openai`` clients so every request carries spendscope attribution.

Only the SDK's documented extension points are used: ``http_client=`` (openai's own
``DefaultHttpxClient`` defaults, plus httpx event hooks) and ``with_options`` to copy a client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai

from collector.sdk._context import Attribution
from collector.sdk._direct import AsyncMeteringTransport, Meter, MeteringTransport
from collector.sdk._hooks import Instrumentation, OnCall
from collector.sdk._shipper import Shipper

ClientT = TypeVar("ClientT", openai.OpenAI, openai.AsyncOpenAI)
# openai's own pool limits (``DefaultHttpxClient``), for the transports direct mode wraps
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
_SHIPPERS: dict[tuple[str, str, Path | None], Shipper] = {}
_SHIPPERS_LOCK = threading.Lock()


def shipper_for(ingest_url: str, key: str, buffer_dir: Path | None = None) -> Shipper:
    """The process's one shipper for this gateway, key and buffer (started on first use)."""
    with _SHIPPERS_LOCK:
        found = _SHIPPERS.get((ingest_url, key, buffer_dir))
        if found is None:
            found = Shipper(ingest_url, key, buffer_dir=buffer_dir)
            _SHIPPERS[(ingest_url, key, buffer_dir)] = found
        return found


def _direct_copy(
    client: ClientT, meter: Meter, base_url: str | None, api_key: str | None
) -> ClientT:
    base = base_url if base_url is not None else client.base_url
    upstream_key = api_key if api_key is not None else client.api_key
    if isinstance(client, openai.AsyncOpenAI):
        transport = AsyncMeteringTransport(httpx.AsyncHTTPTransport(limits=_LIMITS), meter)
        http = openai.DefaultAsyncHttpxClient(transport=transport)
        return client.with_options(base_url=base, api_key=upstream_key, http_client=http)
    sync = MeteringTransport(httpx.HTTPTransport(limits=_LIMITS), meter)
    return client.with_options(
        base_url=base, api_key=upstream_key, http_client=openai.DefaultHttpxClient(transport=sync)
    )


def _hooks(
    user: str | None,
    tags: Mapping[str, str] | None,
    metadata: Mapping[str, Any] | None,
    on_call: OnCall | None,
    propagate_trace: bool,
) -> Instrumentation:
    return Instrumentation(Attribution.checked(user, tags, metadata), on_call, propagate_trace)


def _sync_http(hooks: Instrumentation, **httpx_options: Any) -> httpx.Client:
    events: dict[str, list[Callable[..., Any]]] = {
        "request": [hooks.request],
        "response": [hooks.response],
    }
    return openai.DefaultHttpxClient(event_hooks=events, **httpx_options)


def _async_http(hooks: Instrumentation, **httpx_options: Any) -> httpx.AsyncClient:
    events: dict[str, list[Callable[..., Any]]] = {
        "request": [hooks.arequest],
        "response": [hooks.aresponse],
    }
    return openai.DefaultAsyncHttpxClient(event_hooks=events, **httpx_options)


def http_client(
    *,
    user: str | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_call: OnCall | None = None,
    propagate_trace: bool = True,
    **httpx_options: Any,
) -> httpx.Client:
    """An httpx client with openai's defaults and the spendscope hooks, for ``http_client=``."""
    return _sync_http(_hooks(user, tags, metadata, on_call, propagate_trace), **httpx_options)


def async_http_client(
    *,
    user: str | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_call: OnCall | None = None,
    propagate_trace: bool = True,
    **httpx_options: Any,
) -> httpx.AsyncClient:
    """The async twin of :func:`http_client`, for ``AsyncOpenAI(http_client=...)``."""
    return _async_http(_hooks(user, tags, metadata, on_call, propagate_trace), **httpx_options)


def spendscope_client(
    client_cls: type[ClientT],
    *,
    base_url: str,
    api_key: str,
    user: str | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_call: OnCall | None = None,
    propagate_trace: bool = True,
    **client_options: Any,
) -> ClientT:
    """``OpenAI`` or ``AsyncOpenAI`` pointed at the gateway, attributing every request.

    ``user``, ``tags`` and ``metadata`` apply to every request (``attribute()`` blocks add to
    them); ``on_call`` receives each response's ``CallRecord``. Other keyword arguments go to
    the client class (``max_retries``, ``timeout``, ...). Raises ValueError on bad values.
    """
    hooks = _hooks(user, tags, metadata, on_call, propagate_trace)
    if issubclass(client_cls, openai.AsyncOpenAI):
        return client_cls(
            base_url=base_url, api_key=api_key, http_client=_async_http(hooks), **client_options
        )
    return client_cls(
        base_url=base_url, api_key=api_key, http_client=_sync_http(hooks), **client_options
    )


def instrument(
    client: ClientT,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    user: str | None = None,
    tags: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    on_call: OnCall | None = None,
    propagate_trace: bool = True,
    ingest_url: str | None = None,
    key: str | None = None,
    buffer_dir: str | Path | None = None,
) -> ClientT:
    """A copy of an existing client (``with_options``) that sends through the spendscope hooks.

    The copy gets a new httpx client with openai's default timeouts and pool limits: pass
    ``spendscope_client`` your own options instead if you had a custom ``http_client``.

    Direct mode (``ingest_url`` and ``key``, a virtual key): the copy keeps its own base URL
    and API key and reports each call's usage to the gateway's ``/api/ingest`` in the
    background, buffered on disk in ``buffer_dir`` (default: under ``~/.cache/spendscope``).
    """
    if ingest_url is not None or key is not None:
        if not ingest_url or not key:
            raise ValueError("direct mode needs both ingest_url and key (a virtual key)")
        meter = Meter(
            shipper_for(ingest_url, key, Path(buffer_dir) if buffer_dir is not None else None),
            Attribution.checked(user, tags, metadata),
            on_call,
            propagate_trace,
        )
        return _direct_copy(client, meter, base_url, api_key)
    hooks = _hooks(user, tags, metadata, on_call, propagate_trace)
    base = base_url if base_url is not None else client.base_url
    key = api_key if api_key is not None else client.api_key
    if isinstance(client, openai.AsyncOpenAI):
        return client.with_options(base_url=base, api_key=key, http_client=_async_http(hooks))
    return client.with_options(base_url=base, api_key=key, http_client=_sync_http(hooks))
