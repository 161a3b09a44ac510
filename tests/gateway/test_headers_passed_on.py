"""Headers passed on each way, whatever the list of names: to upstream the client's minus
hop-by-hop, credentials and ours (plus the server's key); to the client upstream's minus
hop-by-hop and framing; names lower-cased, values as sent."""

from __future__ import annotations

import pytest

from collector.gateway._keyring import Keyring, UpstreamKey
from collector.gateway._upstream import (
    _DROP_REQUEST,
    _DROP_RESPONSE,
    Upstream,
    relay_headers,
    upstream_headers,
)

Headers = tuple[tuple[bytes, bytes], ...]
KEY = "sk-server-00000000000000000000abcd"


def _reference(raw: Headers) -> list[tuple[bytes, bytes]]:
    """The rule, read plainly: one header at a time."""
    return [(n.lower(), v) for n, v in raw if n.lower().decode("latin-1") not in _DROP_RESPONSE]


OPENAI_JSON: Headers = (
    (b"Date", b"Mon, 07 Dec 2026 18:00:00 GMT"),
    (b"Content-Type", b"application/json"),
    (b"Content-Length", b"312"),
    (b"Connection", b"keep-alive"),
    (b"x-request-id", b"req_abc"),
    (b"openai-processing-ms", b"120"),
    (b"X-RateLimit-Limit-Requests", b"10000"),
    (b"x-ratelimit-remaining-requests", b"9999"),
    (b"Server", b"cloudflare"),
    (b"Set-Cookie", b"a=1"),
    (b"Set-Cookie", b"b=2"),
)


@pytest.mark.parametrize(
    "raw",
    [
        OPENAI_JSON,
        OPENAI_JSON[:4],  # nothing kept but the type
        ((b"Date", b"x"), (b"Server", b"y")),  # nothing kept
        ((b"X-Request-Id", b"req_1"),),  # one kept
        ((b"Transfer-Encoding", b"chunked"), (b"x-request-id", b"\xff raw bytes")),
        (),
    ],
)
def test_kept_headers_follow_the_rule(raw: Headers) -> None:
    assert relay_headers(raw) == _reference(raw)
    assert relay_headers(raw) == _reference(raw)  # again: names already seen


def test_the_same_names_with_other_values_keep_their_values() -> None:
    first = relay_headers(OPENAI_JSON)
    other = tuple((n, v + b"-2") for n, v in OPENAI_JSON)
    assert relay_headers(other) == [(n, v + b"-2") for n, v in first]


def test_many_name_lists_are_relayed_by_the_rule() -> None:
    for i in range(300):
        raw = ((f"x-custom-{i}".encode(), b"v"), (b"Date", b"d"), (b"x-request-id", b"r"))
        assert relay_headers(raw) == _reference(raw)


CLIENT: Headers = (
    (b"host", b"127.0.0.1:8080"),
    (b"Authorization", b"Bearer sk-ss-client"),
    (b"content-type", b"application/json"),
    (b"content-length", b"96"),
    (b"accept-encoding", b"gzip"),
    (b"X-Stainless-Lang", b"python"),
    (b"x-spendscope-tags", b"team=a"),
    (b"openai-organization", b"org-\xe9"),
    (b"traceparent", b"00-abc-def-01"),
)


def _sent(raw: Headers) -> list[tuple[str, str]]:
    return [
        (n.lower().decode("latin-1"), v.decode("latin-1"))
        for n, v in raw
        if n.lower().decode("latin-1") not in _DROP_REQUEST
    ]


@pytest.mark.parametrize(
    "raw", [CLIENT, CLIENT[:3], ((b"X-Stainless-Lang", b"python"),), CLIENT[1:2], ()]
)
def test_sent_headers_follow_the_rule(raw: Headers) -> None:
    upstream = Upstream("default", "http://127.0.0.1:9/v1", Keyring([UpstreamKey(KEY)]))
    keyed = [*_sent(raw), ("authorization", f"Bearer {KEY}")]
    for _ in range(2):  # names worked out, then remembered
        assert upstream_headers(raw, upstream, with_key=False) == _sent(raw)
        assert upstream_headers(raw, upstream) == keyed
