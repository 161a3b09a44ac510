"""Build or wrap official ``openai`` clients so every request carries spendscope attribution.

Only the SDK's documented extension points are used: ``http_client=`` (openai's own
``DefaultHttpxClient`` defaults, plus httpx event hooks) and ``with_options`` to copy a client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx
import openai

from collector.sdk._context import Attribution
from collector.sdk._hooks import Instrumentation, OnCall

ClientT = TypeVar("ClientT", openai.OpenAI, openai.AsyncOpenAI)


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
) -> ClientT:
    """A copy of an existing client (``with_options``) that sends through the spendscope hooks.

    The copy gets a new httpx client with openai's default timeouts and pool limits: pass
    ``spendscope_client`` your own options instead if you had a custom ``http_client``.
    """
    hooks = _hooks(user, tags, metadata, on_call, propagate_trace)
    base = base_url if base_url is not None else client.base_url
    key = api_key if api_key is not None else client.api_key
    if isinstance(client, openai.AsyncOpenAI):
        return client.with_options(base_url=base, api_key=key, http_client=_async_http(hooks))
    return client.with_options(base_url=base, api_key=key, http_client=_sync_http(hooks))
