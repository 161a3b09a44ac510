"""Upstream keys: parsing every accepted shape, the weighted wheel, and taking keys out."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from collector.errors import SettingsError
from collector.gateway._keyring import Keyring, wheel
from collector.gateway._upstream import UpstreamTable
from collector.settings import Settings, load_settings
from collector.upstream_keys import UpstreamKey, keys_by_upstream, parse_keys

A, B, C = "sk-key-aaaa", "sk-key-bbbb", "sk-key-cccc"


def test_one_key_a_list_and_weighted_keys_are_accepted() -> None:
    assert parse_keys("x", A) == (UpstreamKey(A),)
    assert parse_keys("x", [A, B]) == (UpstreamKey(A), UpstreamKey(B))
    weighted = parse_keys("x", [{"key": A, "weight": 3}, {"key": B}, C])
    assert [(k.last4, k.weight) for k in weighted] == [("aaaa", 3), ("bbbb", 1), ("cccc", 1)]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ([], "expected a key"),
        ({"key": A}, "expected a key"),
        ([A, A], "listed twice"),
        ([""], "key #1 is not"),
        ([{"key": A, "weight": 0}], "weight must be an integer 1..100"),
        ([{"key": A, "weight": True}], "weight must be"),
        ([{"key": A, "weight": "2"}], "weight must be"),
        ([{"key": A, "wieght": 2}], "unknown field 'wieght'"),
        ([7], "key #1 is not"),
    ],
)
def test_bad_values_name_the_variable_and_never_the_key(raw: Any, needle: str) -> None:
    with pytest.raises(SettingsError) as caught:
        parse_keys("second", raw)
    message = str(caught.value)
    assert message.startswith("invalid setting SPENDSCOPE_UPSTREAM_KEYS: upstream 'second': ")
    assert needle in message and "sk-key" not in message


def test_the_default_key_serves_upstreams_without_their_own() -> None:
    keys = keys_by_upstream(["default", "second"], {"second": [B, C]}, A)
    assert [k.secret for k in keys["default"]] == [A]
    assert [k.secret for k in keys["second"]] == [B, C]
    assert keys_by_upstream(["default"], {"default": ""}, A)["default"] == (UpstreamKey(A),)
    assert keys_by_upstream(["default"], {}, None) == {"default": ()}


def test_old_json_values_still_load_and_lists_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SPENDSCOPE_UPSTREAMS", '{"second": "http://127.0.0.1:9/v1"}')
    monkeypatch.setenv(
        "SPENDSCOPE_UPSTREAM_KEYS", f'{{"second": "{B}", "default": ["{A}", "{C}"]}}'
    )
    table = UpstreamTable(load_settings())
    assert [k.label for k in table.named("second").keyring.keys] == ["…bbbb"]
    assert [k.label for k in table.named("default").keyring.keys] == ["…aaaa", "…cccc"]


def test_a_bad_list_stops_the_gateway_from_starting() -> None:
    with pytest.raises(SettingsError, match="weight must be"):
        UpstreamTable(Settings(upstream_keys={"default": [{"key": A, "weight": 1000}]}))


def test_weights_are_interleaved_and_honoured() -> None:
    a, b = UpstreamKey(A, 3), UpstreamKey(B, 1)
    assert Counter(k.last4 for k in wheel([a, b])) == {"aaaa": 3, "bbbb": 1}
    assert len(wheel([UpstreamKey(A, 4), UpstreamKey(B, 2)])) == 3  # reduced by the gcd
    ring = Keyring([a, b])
    chosen = Counter(ring.choose().last4 for _ in range(400))  # type: ignore[union-attr]
    assert chosen == {"aaaa": 300, "bbbb": 100}
    assert [k.last4 for k in wheel([a, b])] != ["aaaa", "aaaa", "aaaa", "bbbb"]  # smooth


def test_a_refused_key_leaves_the_rotation_until_every_key_is_refused() -> None:
    a, b, c = UpstreamKey(A), UpstreamKey(B), UpstreamKey(C)
    ring = Keyring([a, b, c])
    assert ring.revoke(b) is True and ring.is_revoked(b)
    assert {ring.choose() for _ in range(10)} == {a, c}
    assert ring.revoke(b) is True  # refused again by a try that chose it earlier: retry
    assert ring.revoke(a) is True
    assert {ring.choose() for _ in range(10)} == {c}
    assert ring.revoke(c) is False  # none left: the client gets the refusal
    assert {ring.choose() for _ in range(10)} == {a, b, c}  # and every key is tried again
    ring.replace([b])
    assert not ring.is_revoked(b) and ring.choose() == b
    assert ring.revoke(a) is False  # a key no longer configured changes nothing


def test_no_key_means_no_authorization() -> None:
    assert Keyring().choose() is None
    assert "sk-key" not in repr(UpstreamKey(A))


def test_refusals_learnt_from_other_processes() -> None:
    a, b = UpstreamKey(A), UpstreamKey(B)
    ring = Keyring([a, b])
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    assert ring.learn("aaaa", long_ago) is True  # a process starting trusts the whole record
    assert ring.learn("aaaa", long_ago) is False and ring.is_revoked(a)
    assert ring.learn("zzzz", long_ago) is False  # not one of ours
    ring.replace([a, b])  # a reload: only refusals after it count
    assert ring.learn("aaaa", long_ago) is False and not ring.is_revoked(a)
    assert ring.learn("aaaa", datetime.now(UTC) + timedelta(seconds=1)) is True
    twins = Keyring([UpstreamKey("sk-one-same"), UpstreamKey("sk-two-same")])
    assert twins.learn("same", long_ago) is False  # two keys end alike: not knowable
