"""Keeping secrets out of what people see: key fragments in text, passwords inside URLs.

One place for the two rules every output path applies — error messages relayed to clients
or stored in rows, settings printed by the CLI, written to logs or served by ``/healthz``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
# API-key shaped tokens (``sk-…``, ``sk-proj-…``, ``rk-…``, masked ``sk-****ALUE`` included):
# even the last four characters of the server's key are a fragment we do not hand out.
_KEY_LIKE = re.compile(r"\b(?:sk|rk|sess|ss)-[A-Za-z0-9_*\-]{2,}")
_URL_IN_TEXT = re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.IGNORECASE)


def redact_keys(text: str) -> str:
    """``text`` with every API-key-like token replaced by ``sk-[redacted]``."""
    return _KEY_LIKE.sub("sk-[redacted]", text) if "-" in text else text


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo masked (``u:pw@h`` → ``u:********@h``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


def redact(text: str) -> str:
    """``text`` with URL passwords and key-like tokens masked (for logs and error messages)."""
    return redact_keys(mask_urls(text))


def install_log_redaction() -> None:
    """Mask URL passwords and key-like tokens in every warning or error logged from now on.

    A record factory rather than a handler filter: it sees records from every logger,
    whichever handlers uvicorn or the host application configured. Idempotent.
    """
    current = logging.getLogRecordFactory()
    if getattr(current, "_spendscope_redacts", False):
        return
    factory = _redacting(current)
    factory._spendscope_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def build(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if record.levelno >= logging.WARNING:
            try:
                text = record.getMessage()
            except (TypeError, ValueError):
                return record  # a bad format string: logging reports it itself
            clean = redact(text)
            if clean != text:
                record.msg, record.args = clean, None
        return record

    return build
