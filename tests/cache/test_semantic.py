"""The semantic cache's pure parts and vector stores: the question compared, the bucket it is
compared in, similarity, bounds and expiry; and its settings refused when they make no sense."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collector.cache import (
    MemoryVectorIndex,
    RedisVectorIndex,
    Vector,
    best_match,
    bucket_key,
    decode_vector,
    make_index,
    semantic_text,
)
from collector.errors import SettingsError
from collector.settings import load_settings
from tests.support.redis_server import REDIS_URL, require_redis

CHAT = "/v1/chat/completions"
PAIRS = Path(__file__).resolve().parents[2] / "bench" / "semantic_pairs.json"


def _chat(question: Any, *earlier: dict[str, Any], **params: Any) -> dict[str, Any]:
    messages = [*earlier, {"role": "user", "content": question}]
    return {"model": "gpt-4o-mini", "messages": messages, "temperature": 0, **params}


def _unit(*values: float) -> Vector:
    vector = np.asarray(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def test_the_question_is_the_last_user_text_with_its_spaces_collapsed() -> None:
    assert semantic_text(CHAT, _chat("  What is\n the capital?  ")) == "What is the capital?"
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]
    assert semantic_text(CHAT, _chat(parts)) == "Hello there"
    assert semantic_text("/v1/completions", {"prompt": "Say hi"}) == "Say hi"


@pytest.mark.parametrize(
    "body",
    [
        _chat([{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]),
        _chat("   "),
        {"messages": [{"role": "assistant", "content": "Hi"}]},
        {"messages": [{"role": "user", "content": "Hi", "name": "bob"}]},
        {"messages": []},
    ],
)
def test_requests_without_a_plain_question_are_not_compared(body: dict[str, Any]) -> None:
    assert semantic_text(CHAT, body) is None


def test_embeddings_and_legacy_token_prompts_are_not_compared() -> None:
    assert semantic_text("/v1/embeddings", {"input": "x"}) is None
    assert semantic_text("/v1/completions", {"prompt": [1, 2, 3]}) is None


def test_the_bucket_ignores_the_question_and_keeps_everything_else() -> None:
    def key(body: dict[str, Any], project: int = 1, model: str = "m", shared: bool = False) -> str:
        return bucket_key(CHAT, body, project, shared=shared, model=model)

    system = {"role": "system", "content": "Be brief."}
    base = key(_chat("What is the capital of France?", system))
    assert key(_chat("Which city is France's capital?", system)) == base
    assert key(_chat("Which city is France's capital?", system, user="someone")) == base
    assert key(_chat("q", {"role": "system", "content": "Be long."})) != base
    assert key(_chat("q", system, temperature=0.5)) != base
    assert key(_chat("q", system, model="gpt-4o")) != base
    assert key(_chat("q", system), project=2) != base
    assert key(_chat("q", system), model="other-embedding") != base
    assert key(_chat("q", system), project=2, shared=True) == key(_chat("q", system), shared=True)


def test_vectors_are_read_as_unit_float32_or_refused() -> None:
    raw = np.asarray([3.0, 4.0], dtype="<f4").tobytes()
    assert decode_vector(base64.b64encode(raw).decode()) == pytest.approx([0.6, 0.8])
    assert decode_vector([3, 4]) == pytest.approx([0.6, 0.8])
    for bad in ("not base64!", [0.0, 0.0], [], None, ["x"], base64.b64encode(b"abc").decode()):
        assert decode_vector(bad) is None, bad


def test_the_best_match_is_the_highest_cosine() -> None:
    matrix = np.stack([_unit(1, 0, 0), _unit(1, 1, 0), _unit(0, 0, 1)])
    index, score = best_match(matrix, _unit(1, 0.9, 0)) or (None, 0.0)
    assert index == 1 and score == pytest.approx(0.9986, abs=1e-4)
    assert best_match(matrix, _unit(1, 0)) is None  # other dimensions: never compared


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_memory_finds_the_nearest_question_until_it_expires() -> None:
    clock = _Clock()
    index = MemoryVectorIndex(10, 100, clock)
    await index.add("b", "k1", _unit(1, 0), ttl_s=10)
    await index.add("b", "k2", _unit(0, 1), ttl_s=20)
    found = await index.search("b", _unit(0.1, 1))
    assert found is not None and found[0] == "k2" and found[1] == pytest.approx(0.995, abs=1e-3)
    assert await index.search("other", _unit(0, 1)) is None
    clock.now += 15
    assert (await index.search("b", _unit(1, 0)) or ("", 0.0))[0] == "k2"  # k1 expired
    clock.now += 10
    assert await index.search("b", _unit(0, 1)) is None and index.size == 0


async def test_memory_holds_its_bounds_per_bucket_and_in_all() -> None:
    index = MemoryVectorIndex(bucket_size=2, max_vectors=3)
    for n in range(3):
        await index.add("a", f"a{n}", _unit(1, n), ttl_s=60)
    assert index.size == 2
    assert (await index.search("a", _unit(1, 0)) or ("", 0.0))[0] == "a1"  # a0 dropped
    await index.add("b", "b0", _unit(1, 0), ttl_s=60)
    await index.add("b", "b1", _unit(0, 1), ttl_s=60)
    assert index.size == 3  # the least recently used bucket gave up its oldest
    assert (await index.search("a", _unit(1, 0)) or ("", 0.0))[0] == "a2"


async def test_redis_keeps_the_newest_questions_of_a_bucket() -> None:
    require_redis()
    index = RedisVectorIndex(REDIS_URL, f"test-{uuid.uuid4().hex}", bucket_size=2)
    try:
        for n, vector in enumerate((_unit(1, 0), _unit(1, 1), _unit(0, 1))):
            await index.add("b", f"k{n}", vector, ttl_s=60)
        found = await index.search("b", _unit(0, 1))
        assert found is not None and found[0] == "k2" and found[1] == pytest.approx(1.0)
        assert (await index.search("b", _unit(1, 0)) or ("", 0.0))[0] == "k1"  # k0 trimmed
        assert await index.search("b", _unit(1, 0, 0)) is None
    finally:
        await index.aclose()


async def test_an_unreachable_redis_finds_nothing_and_keeps_nothing() -> None:
    index = RedisVectorIndex("redis://127.0.0.1:9/0", "x", bucket_size=2)
    await index.add("b", "k", _unit(1, 0), ttl_s=60)
    assert await index.search("b", _unit(1, 0)) is None
    await index.aclose()


def test_the_index_follows_the_cache_store_choice() -> None:
    on = {"cache_enabled": True, "cache_semantic": True}
    assert isinstance(make_index(load_settings(**on)), MemoryVectorIndex)
    redis = load_settings(**on, redis_url="redis://127.0.0.1:6379/11")
    assert isinstance(make_index(redis), RedisVectorIndex)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cache_semantic": True}, "SPENDSCOPE_CACHE_SEMANTIC: .*CACHE_ENABLED=true"),
        ({"cache_semantic_threshold": 0}, "SPENDSCOPE_CACHE_SEMANTIC_THRESHOLD: .*greater"),
        ({"cache_semantic_threshold": 1.01}, "SPENDSCOPE_CACHE_SEMANTIC_THRESHOLD: .*less"),
        ({"cache_semantic_model": ""}, "SPENDSCOPE_CACHE_SEMANTIC_MODEL: "),
        ({"cache_semantic_timeout_s": 0}, "SPENDSCOPE_CACHE_SEMANTIC_TIMEOUT_S: "),
        ({"cache_semantic_bucket_size": 0}, "SPENDSCOPE_CACHE_SEMANTIC_BUCKET_SIZE: "),
        ({"cache_semantic_max_vectors": 0}, "SPENDSCOPE_CACHE_SEMANTIC_MAX_VECTORS: "),
    ],
)
def test_bad_semantic_settings_are_refused_in_one_line(
    settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(SettingsError, match=f"^invalid setting {message}") as refused:
        load_settings(**settings)
    assert "\n" not in str(refused.value)


def test_a_bad_threshold_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPENDSCOPE_CACHE_SEMANTIC_THRESHOLD", "high")
    with pytest.raises(SettingsError, match=r"SPENDSCOPE_CACHE_SEMANTIC_THRESHOLD: .*number"):
        load_settings()


def test_the_shipped_pairs_are_forty_of_each_kind() -> None:
    pairs = json.loads(PAIRS.read_text())
    for kind in ("same", "different"):
        assert len(pairs[kind]) == 40, kind
        assert all(len(p) == 2 and p[0] != p[1] and all(p) for p in pairs[kind])
        assert len({tuple(p) for p in pairs[kind]}) == 40


async def test_memory_finds_every_kept_question_as_its_buffer_grows_and_compacts() -> None:
    index = MemoryVectorIndex(bucket_size=5, max_vectors=100)
    rng = np.random.default_rng(1)
    kept: list[Vector] = []
    for n in range(40):
        kept.append(_unit(*rng.standard_normal(16)))
        await index.add("b", f"k{n}", kept[-1], ttl_s=60)
        for m in range(max(0, n - 4), n + 1):
            found = await index.search("b", kept[m])
            assert found is not None and found[0] == f"k{m}" and found[1] > 0.999
    assert index.size == 5
