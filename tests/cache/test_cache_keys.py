"""Which requests are cacheable, what their key depends on, the header, the entry's bytes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from collector.cache import (
    CachedAnswer,
    CacheMode,
    Capture,
    cache_key,
    decode_answer,
    encode_answer,
    opted_in,
    parse_mode,
    uncacheable_reason,
)
from collector.errors import InvalidRequest

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]


def _chat(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}


@pytest.mark.parametrize(
    ("body", "cacheable"),
    [
        (_chat(temperature=0), True),
        (_chat(temperature=0.0), True),
        (_chat(seed=7), True),
        (_chat(temperature=0.8, seed=7), True),
        (_chat(), False),  # default temperature 1, no seed: sampled
        (_chat(temperature=0.2), False),
        (_chat(temperature=False), False),
        (_chat(seed="7"), False),
        (_chat(seed=True), False),
        (_chat(temperature=0, n=3), True),  # not streamed: n choices are one answer
        (_chat(temperature=0, n=2, stream=True), False),
        (_chat(temperature=0, n=1, stream=True), True),
    ],
)
def test_only_deterministic_requests_are_cacheable(body: dict[str, Any], cacheable: bool) -> None:
    assert (uncacheable_reason(CHAT, body) is None) is cacheable


def test_embeddings_are_cacheable_and_other_endpoints_are_not() -> None:
    assert uncacheable_reason("/v1/embeddings", {"model": "m", "input": "x"}) is None
    assert uncacheable_reason("/v1/responses", _chat(temperature=0)) == "endpoint"
    assert uncacheable_reason("/v1/audio/speech", {}) == "endpoint"
    assert uncacheable_reason(CHAT, None) == "body"


def test_the_key_ignores_who_asked_and_key_order_but_not_what_changes_the_answer() -> None:
    base = cache_key(CHAT, _chat(temperature=0), 1, shared=False)
    reordered = {"messages": MESSAGES, "temperature": 0, "model": "gpt-4o-mini"}
    assert cache_key(CHAT, reordered, 1, shared=False) == base
    ignored = _chat(temperature=0, user="u1", metadata={"a": "b"}, stream_options={"x": 1})
    assert cache_key(CHAT, ignored, 1, shared=False) == base
    for changed in (
        _chat(temperature=0, model="gpt-4o"),
        _chat(temperature=0, max_tokens=5),
        _chat(temperature=0, tools=[{"type": "function", "function": {"name": "f"}}]),
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi!"}]},
        _chat(temperature=0, stream=True),
    ):
        assert cache_key(CHAT, changed, 1, shared=False) != base
    assert cache_key("/v1/completions", _chat(temperature=0), 1, shared=False) != base


def test_the_key_belongs_to_its_project_unless_shared() -> None:
    a = cache_key(CHAT, _chat(temperature=0), 1, shared=False)
    b = cache_key(CHAT, _chat(temperature=0), 2, shared=False)
    assert a != b
    assert a.startswith("1:") and b.startswith("2:")
    assert cache_key(CHAT, _chat(temperature=0), 1, shared=True) == cache_key(
        CHAT, _chat(temperature=0), 2, shared=True
    )


def test_the_header_takes_on_off_refresh_and_refuses_anything_else() -> None:
    assert parse_mode(None) is None
    assert parse_mode("on") is CacheMode.ON
    assert parse_mode(" OFF ") is CacheMode.OFF
    assert parse_mode("refresh") is CacheMode.REFRESH
    with pytest.raises(InvalidRequest, match="x-spendscope-cache must be one of"):
        parse_mode("yes")


def test_opt_in_by_project_wildcard_or_key_prefix() -> None:
    assert opted_in("acme", "sk-ss-abc", ["acme"], [])
    assert opted_in("acme", "sk-ss-abc", ["*"], [])
    assert opted_in("acme", "sk-ss-abc", [], ["sk-ss-abc"])
    assert not opted_in("acme", "sk-ss-abc", ["other"], ["sk-ss-xyz"])


def test_an_entry_round_trips_exactly_and_garbage_is_a_miss() -> None:
    answer = CachedAnswer("01ABC", "gpt-4o-mini", Decimal("0.000123456"), True, "text/x", b"a\nb")
    assert decode_answer(encode_answer(answer)) == answer
    assert decode_answer(b"no header line") is None
    assert decode_answer(b'{"request_id": "x"}\nbody') is None
    assert decode_answer(b"{not json\nbody") is None
    claude = CachedAnswer("01ABD", "claude-sonnet-4-5", Decimal("0.01"), False, "application/json",
                          b"{}", upstream="claude", provider="anthropic")  # fmt: skip
    assert decode_answer(encode_answer(claude)) == claude


def test_an_entry_stored_before_the_provider_was_kept_reads_as_openai() -> None:
    head = b'{"request_id": "01ABC", "model": "gpt-4o", "cost_usd": "0.5", "stream": false, '
    old = decode_answer(head + b'"content_type": "application/json"}\n{}')
    assert old is not None and (old.provider, old.upstream) == ("openai", None)


def test_a_capture_keeps_a_stream_only_while_it_fits() -> None:
    small = Capture(10)
    for chunk in (b"data: 1\n", b"\n"):
        small.append(chunk)
    assert small.body() == b"data: 1\n\n"
    big = Capture(10)
    for chunk in (b"data: 1\n\n", b"data: 2\n\n", b"x"):
        big.append(chunk)
    assert big.body() is None and big.overflowed
