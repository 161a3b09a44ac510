"""Several upstream keys: used in turn, a refused one left out with the try repeated on the
next, every try's key recorded by its last four characters, and keys reloaded while serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from collector.mock_upstream import MockConfig, run_in_thread
from tests.gateway._support import Gateway, GatewayFactory

K1, K2, K3 = "sk-rotate-one-0001", "sk-rotate-two-0002", "sk-rotate-new-0003"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
ADMIN = "admin-token-0123456789"


@pytest.fixture(scope="module")
def keyed_mock() -> Iterator[str]:
    """A fake OpenAI that accepts the keys a test gives it (``accept``)."""
    with run_in_thread(MockConfig(accept_keys=(K1, K2), retry_after_s=0.01)) as url:
        yield url


def accept(mock_url: str, *keys: str) -> None:
    """Revoke every key at the mock but ``keys``."""
    root = mock_url.removesuffix("/v1")
    httpx.put(f"{root}/_mock/keys", json={"keys": list(keys)}, timeout=10).raise_for_status()


def _gateway(make_gateway: GatewayFactory, mock_url: str, keys: Any, **more: Any) -> Gateway:
    return make_gateway(upstream_base_url=mock_url, upstream_keys={"default": keys}, **more)


def _ask(gw: Gateway, client: openai.OpenAI, n: int, **options: Any) -> None:
    for _ in range(n):
        reply: Any = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, **options
        )
        assert list(reply) if options.get("stream") else reply.choices[0].message.content


def _tries(gw: Gateway) -> list[list[tuple[int | None, str | None]]]:
    """Per request, oldest first: each attempt's (status, key's last four)."""
    return [
        [(a.http_status, a.upstream_key_last4) for a in gw.attempts(row.id)]
        for row in sorted(gw.requests(), key=lambda r: r.started_at)
    ]


def test_keys_are_used_in_turn_and_recorded_by_their_last_four(
    make_gateway: GatewayFactory, keyed_mock: str
) -> None:
    accept(keyed_mock, K1, K2)
    gw = _gateway(make_gateway, keyed_mock, [K1, K2])
    _ask(gw, gw.client(), 4)
    tries = _tries(gw)
    assert sorted(t[0][1] or "" for t in tries) == ["0001", "0001", "0002", "0002"]
    assert all(len(t) == 1 and t[0][0] == 200 for t in tries)


def test_weighted_keys_are_used_by_weight(make_gateway: GatewayFactory, keyed_mock: str) -> None:
    accept(keyed_mock, K1, K2)
    gw = _gateway(make_gateway, keyed_mock, [{"key": K1, "weight": 3}, K2])
    _ask(gw, gw.client(), 8)
    used = sorted(t[0][1] or "" for t in _tries(gw))
    assert used == ["0001"] * 6 + ["0002"] * 2


@pytest.mark.parametrize("stream", [False, True])
def test_a_revoked_key_is_retried_with_the_next_and_left_out(
    make_gateway: GatewayFactory, keyed_mock: str, stream: bool
) -> None:
    accept(keyed_mock, K2)
    gw = _gateway(make_gateway, keyed_mock, [K1, K2])
    _ask(gw, gw.client(), 4, stream=stream)
    rows = sorted(gw.requests(), key=lambda r: r.started_at)
    assert [r.outcome for r in rows] == ["success"] * 4
    tries = _tries(gw)
    # the first try of K1 answered 401, the same request then succeeded on K2
    assert tries[0] == [(401, "0001"), (200, "0002")]
    assert tries[1:] == [[(200, "0002")]] * 3
    with httpx.Client(base_url=gw.base_url.removesuffix("/v1")) as api:
        assert api.get("/api/upstream-keys").status_code == 503  # no admin token configured


def test_every_key_revoked_answers_as_one_refused_key_did(
    make_gateway: GatewayFactory, keyed_mock: str
) -> None:
    accept(keyed_mock, K3)
    gw = _gateway(make_gateway, keyed_mock, [K1, K2])
    with pytest.raises(openai.APIStatusError) as caught:
        _ask(gw, gw.client(), 1)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_failed"
    assert sorted(_tries(gw)[0]) == [(401, "0001"), (401, "0002")]
    row = gw.only_request()
    assert "sk-rotate" not in (row.error_message or "")


def test_the_admin_api_reloads_the_keys(
    make_gateway: GatewayFactory, keyed_mock: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    accept(keyed_mock, K1, K3)
    gw = _gateway(make_gateway, keyed_mock, [K1, K2], admin_token=ADMIN)
    root = gw.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root, headers={"authorization": f"Bearer {ADMIN}"}) as api:
        _ask(gw, gw.client(), 2)  # K2 refused once: out of rotation
        states = {s["key"]: s["state"] for s in api.get("/api/upstream-keys").json()}
        assert states == {"…0001": "active", "…0002": "revoked"}
        monkeypatch.setenv("SPENDSCOPE_UPSTREAM_KEYS", f'{{"default": ["{K3}"]}}')
        reloaded = api.post("/api/upstream-keys/reload")
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json() == [
            {"upstream": "default", "key": "…0003", "weight": 1, "state": "active"}
        ]
        assert K3 not in reloaded.text
        monkeypatch.setenv("SPENDSCOPE_UPSTREAM_KEYS", '{"default": [{"key": 5}]}')
        bad = api.post("/api/upstream-keys/reload")
        assert bad.status_code == 400 and "SPENDSCOPE_UPSTREAM_KEYS" in bad.text
        viewer = api.post("/api/upstream-keys/reload", headers={"authorization": "Bearer x"})
        assert viewer.status_code == 401
    before = len(gw.requests())
    _ask(gw, gw.client(), 2)
    assert _tries(gw)[before:] == [[(200, "0003")]] * 2  # the bad value left K3 in use


def test_a_refusal_met_by_one_process_takes_the_key_out_in_another(
    make_gateway: GatewayFactory, keyed_mock: str
) -> None:
    accept(keyed_mock, K2)
    first = _gateway(make_gateway, keyed_mock, [K1, K2])
    second = _gateway(make_gateway, keyed_mock, [K1, K2])
    _ask(first, first.client(), 2)
    first.server.flush()  # the refusal is in the record both processes write
    assert second.server.run(second.server.runtime.sync_upstream_keys()) == 1
    assert second.server.run(second.server.runtime.sync_upstream_keys()) == 0  # once
    states = second.server.runtime.upstreams.key_states()
    assert [s["state"] for s in states] == ["revoked", "active"]
    before = len(second.requests())
    _ask(second, second.client(), 3)
    assert _tries(second)[before:] == [[(200, "0002")]] * 3  # no 401 try in this process
    # after a reload, only refusals newer than it count
    second.server.runtime.upstreams.reload_keys(second.server.runtime.settings)
    assert second.server.run(second.server.runtime.sync_upstream_keys()) == 0
