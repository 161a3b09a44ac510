"""Channel configuration: checked when a rule is configured and again when it is delivered.

Reading stored rules never validates: a channel whose settings went missing (say, the SMTP host
was unset) must not stop rules from being listed or other channels from being delivered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from collector.alerts._types import AlertConfigError, ChannelConfig
from collector.settings import Settings

KINDS = ("slack", "webhook", "email", "file")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_HOST = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AlertConfigError(f"bad webhook URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertConfigError(f"bad webhook URL {url!r}: expected http(s)://host/...")
    if port == 0:
        raise AlertConfigError(f"bad webhook URL {url!r}: port 0")
    return url


def check_email(address: str) -> str:
    if not _EMAIL.fullmatch(address.strip()):
        raise AlertConfigError(f"bad email address {address!r}")
    return address.strip()


def check_smtp(settings: Settings) -> None:
    """Email needs a syntactically valid SMTP host and sender (port is range-checked)."""
    host = settings.smtp_host
    if not host:
        raise AlertConfigError("email alerts need SPENDSCOPE_SMTP_HOST")
    if not _HOST.fullmatch(host):
        raise AlertConfigError(f"bad SPENDSCOPE_SMTP_HOST {host!r}")
    check_email(settings.smtp_from)


def parse_channel(kind: str, target: str, settings: Settings) -> ChannelConfig:
    if kind not in KINDS:
        raise AlertConfigError(f"unknown channel {kind!r}; use {', '.join(KINDS)}")
    if kind in ("slack", "webhook"):
        check_url(target)
    elif kind == "email":
        check_smtp(settings)
        target = ",".join(check_email(a) for a in target.split(",") if a.strip())
        if not target:
            raise AlertConfigError("email channel needs at least one address")
    else:
        path = Path(target)
        if not target or (path.exists() and path.is_dir()):
            raise AlertConfigError(f"file channel needs a file path, got {target!r}")
    return ChannelConfig(kind, target)


def check_channel(channel: ChannelConfig, settings: Settings) -> None:
    """Re-check a stored channel against today's settings, just before delivering to it."""
    parse_channel(channel.kind, channel.target, settings)


def channels_from_json(raw: Any) -> tuple[ChannelConfig, ...]:
    """Rule rows store ``{"channels": [{"kind": ..., "target": ...}, ...]}``; read as stored."""
    items = raw.get("channels", []) if isinstance(raw, Mapping) else []
    return tuple(ChannelConfig(str(i["kind"]), str(i["target"])) for i in items)


def channels_to_json(channels: Iterable[ChannelConfig]) -> dict[str, Any]:
    return {"channels": [{"kind": c.kind, "target": c.target} for c in channels]}
