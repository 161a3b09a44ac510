"""Where a request goes upstream, with which headers, and how long to wait before a retry.

Pure values built once from settings: the table of named upstreams (``default`` is
``upstream_base_url``), the model → upstream routes (glob patterns, first match wins), the
fallback chains, and the retry policy (exponential backoff with full jitter, honouring
``retry-after-ms`` and ``Retry-After``). Each upstream's keys are a :class:`Keyring`
(``_keyring``), replaced in place when the key settings are reloaded.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from fnmatch import fnmatchcase
from typing import Any

from collector.errors import SettingsError
from collector.gateway._keyring import Keyring, UpstreamKey, keys_by_upstream
from collector.providers import OPENAI, providers_of
from collector.settings import Settings

DEFAULT_UPSTREAM = "default"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 60.0

# Never forwarded upstream: hop-by-hop, the client's credentials, our own attribution and
# cache headers,
# and what the upstream client sets itself (host, length, compression it can decode).
_DROP_REQUEST = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
        "authorization", "api-key", "accept-encoding", "x-spendscope-user", "x-spendscope-tags",
        "x-spendscope-metadata", "x-spendscope-cache", "cookie",
    }
)  # fmt: skip
# Never relayed back: hop-by-hop and framing (the response is re-framed, bodies decompressed),
# and what our own server sets (``date``, ``server``) so the client gets one of each.
_DROP_RESPONSE = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "content-length",
        "content-encoding", "date", "server",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Upstream:
    """One OpenAI-compatible server: its name (recorded on rows), base URL and keys."""

    name: str
    base_url: str
    keyring: Keyring
    regional: bool = False  # a regional-processing (data residency) endpoint: priced with uplift
    provider: str = OPENAI  # who serves it (collector.providers): recorded, and prices its models

    @property
    def authorization(self) -> str | None:
        """The auth header of the next key in turn (None when the upstream has no key)."""
        key = self.keyring.choose()
        return key.authorization if key else None

    def url(self, path: str, query: bytes) -> str:
        """The upstream URL of a client's ``/v1/...`` path (the base URL already ends in /v1)."""
        rest = path[3:] if path.startswith("/v1") else path
        url = self.base_url + rest
        return f"{url}?{query.decode('latin-1')}" if query else url


class UpstreamTable:
    """Named upstreams and the model → upstream routes, validated when the gateway starts."""

    def __init__(self, settings: Settings) -> None:
        bases = {DEFAULT_UPSTREAM: settings.upstream_base_url, **settings.upstreams}
        keys = upstream_keys(list(bases), settings)
        regional = set(settings.regional_upstreams)
        unknown = sorted(regional - set(bases))
        if unknown:
            raise SettingsError(
                f"invalid setting SPENDSCOPE_REGIONAL_UPSTREAMS: unknown upstream {unknown[0]!r} "
                f"(known: {', '.join(sorted(bases))})"
            )
        providers = _providers(settings.upstream_providers, bases)
        self._by_name = {
            name: Upstream(
                name, base.rstrip("/"), Keyring(keys[name]), name in regional, providers[name]
            )
            for name, base in bases.items()
        }
        for pattern, name in settings.upstream_routes.items():
            if name not in self._by_name:
                raise SettingsError(
                    f"invalid setting SPENDSCOPE_UPSTREAM_ROUTES: {pattern!r} names unknown "
                    f"upstream {name!r} (known: {', '.join(sorted(self._by_name))})"
                )
        self._routes = list(settings.upstream_routes.items())
        self._fallbacks = {k: tuple(v) for k, v in settings.fallback_models.items()}
        self._cache: dict[str, Upstream] = {}

    def for_model(self, model: str | None) -> Upstream:
        """The upstream serving ``model`` (the default one when no route matches)."""
        if model is None or not self._routes:
            return self._by_name[DEFAULT_UPSTREAM]
        found = self._cache.get(model)
        if found is None:
            name = next((n for p, n in self._routes if fnmatchcase(model, p)), DEFAULT_UPSTREAM)
            found = self._by_name[name]
            if len(self._cache) < 4096:
                self._cache[model] = found
        return found

    def reload_keys(self, settings: Settings) -> dict[str, tuple[UpstreamKey, ...]]:
        """Each upstream's keys from fresh settings (all checked before any is replaced)."""
        keys = upstream_keys(list(self._by_name), settings)
        for name, upstream in self._by_name.items():
            upstream.keyring.replace(keys[name])
        return keys

    def all(self) -> tuple[Upstream, ...]:
        return tuple(self._by_name.values())

    def key_states(self) -> list[dict[str, str | int]]:
        """Each upstream's keys as this process uses them: ``…last4``, weight, state."""
        return [
            {"upstream": name, "key": key.label, "weight": key.weight,
             "state": "revoked" if upstream.keyring.is_revoked(key) else "active"}
            for name, upstream in sorted(self._by_name.items())
            for key in upstream.keyring.keys
        ]  # fmt: skip

    def named(self, name: str | None) -> Upstream:
        """The upstream of that name (a Batch API job's), else the default one."""
        return self._by_name.get(name or DEFAULT_UPSTREAM) or self._by_name[DEFAULT_UPSTREAM]

    def models_to_try(self, model: str | None) -> tuple[str | None, ...]:
        """The requested model followed by its fallback chain (duplicates dropped)."""
        if model is None:
            return (None,)
        chain = [model]
        chain += [m for m in self._fallbacks.get(model, ()) if m not in chain]
        return tuple(chain)


def _providers(configured: Mapping[str, str], bases: Mapping[str, str]) -> dict[str, str]:
    try:
        return providers_of(configured, bases)
    except ValueError as exc:
        raise SettingsError(f"invalid setting SPENDSCOPE_UPSTREAM_PROVIDERS: {exc}") from None


def upstream_keys(names: list[str], settings: Settings) -> dict[str, tuple[UpstreamKey, ...]]:
    """The keys of each named upstream (``_keyring.keys_by_upstream``) from settings."""
    return keys_by_upstream(names, settings.upstream_keys, settings.effective_upstream_api_key)


def upstream_headers(
    client_headers: Iterable[tuple[bytes, bytes]], upstream: Upstream, *, with_key: bool = True
) -> list[tuple[str, str]]:
    """The client's headers minus hop-by-hop/auth/ours, plus (``with_key``) the next key."""
    names = _REQUEST_NAMES
    out = []
    for raw_name, raw_value in client_headers:
        name = names.get(raw_name, _UNSEEN)
        if name is _UNSEEN:
            name = _remember(names, raw_name, _DROP_REQUEST, text=True)
        if name is not None:
            out.append((name, raw_value.decode("latin-1")))
    if with_key and (authorization := upstream.authorization):
        out.append(("authorization", authorization))
    return out


def relay_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Upstream response headers to pass to the client (request ids, rate limits, types…).

    Works on aiohttp's raw header bytes: values go out exactly as upstream sent them.
    """
    names = _RESPONSE_NAMES
    out = []
    for raw_name, value in raw_headers:
        name = names.get(raw_name, _UNSEEN)
        if name is _UNSEEN:
            name = _remember(names, raw_name, _DROP_RESPONSE, text=False)
        if name is not None:
            out.append((name, value))
    return out


# Header names seen so far → what to send on (lower case), or None when dropped: the check
# and the case folding run once per distinct name, not once per header per request.
_UNSEEN: Any = object()
_REQUEST_NAMES: dict[bytes, str | None] = {}
_RESPONSE_NAMES: dict[bytes, bytes | None] = {}
_MAX_NAMES = 1024


def _remember(names: dict[bytes, Any], raw_name: bytes, drop: frozenset[str], *, text: bool) -> Any:
    lowered = raw_name.lower()
    decoded = lowered.decode("latin-1")
    name = None if decoded in drop else (decoded if text else lowered)
    if len(names) < _MAX_NAMES:
        names[raw_name] = name
    return name


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait: ``retry-after-ms``, else ``Retry-After`` (seconds or date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return _bounded(float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _bounded(float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _bounded((when - datetime.now(UTC)).total_seconds())


def _bounded(seconds: float) -> float | None:
    if seconds != seconds or seconds < 0:  # NaN or negative: ignore the hint
        return None
    return min(seconds, MAX_RETRY_AFTER_S)


def backoff_s(retry_no: int, base_ms: int, max_ms: int, hint_s: float | None) -> float:
    """Wait before retry ``retry_no`` (1-based): the server's hint, else full jitter."""
    if hint_s is not None:
        return hint_s
    ceiling = min(max_ms, base_ms * (2 ** (retry_no - 1)))
    return random.uniform(0, ceiling) / 1000  # noqa: S311 - backoff jitter, not a secret
