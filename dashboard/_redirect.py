"""Where a sign-in may send the browser next: a path on this site, nothing else.

Browsers strip tabs and newlines from URLs, read ``\\`` as ``/``, and treat ``//host`` as
another site, so ``/\\t/evil.example`` or ``/\\evil.example`` become off-site redirects.
A target is kept only when it is plain printable ASCII, has no scheme or host, starts
with a single ``/`` — also once percent-decoded — and contains no backslash.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

HOME = "/"
_MAX_LENGTH = 2048


def safe_next(target: str | None) -> str:
    """``target`` when it is a same-origin relative path, else ``/``."""
    if not target or len(target) > _MAX_LENGTH:
        return HOME
    if any(not ("!" <= ch <= "~") for ch in target):  # controls, spaces, non-ASCII
        return HOME
    decoded = unquote(unquote(target))
    for text in (target, decoded):
        if not text.startswith("/") or text.startswith("//") or "\\" in text:
            return HOME
        if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in text):
            return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return HOME
    return target
