"""Image input tokens by OpenAI's vision rules, with sizes read from data-URL headers.

Source for every number here: OpenAI platform docs, "Images and vision" → "Calculating costs"
(tile table and patch multipliers; fetched via a mirrored copy of the page). Rounding when
scaling is Python ``round`` (half to even), which reproduces community-measured billing of
gpt-4.1 at 2049x513 (8 tiles) vs 2050x513 (4 tiles): community.openai.com/t/1281361.
"""

from __future__ import annotations

import binascii
import math
import struct
from dataclasses import dataclass

from collector.tokens._models import base_model

__all__ = ["UNKNOWN_IMAGE_SIZE", "image_size_from_data_url", "image_tokens"]

# A remote URL's size is unknown without fetching it (we never do on the request path);
# count it as a 1024x1024 high-detail image, a typical photo after client-side resizing.
UNKNOWN_IMAGE_SIZE: tuple[int, int] = (1024, 1024)


@dataclass(frozen=True, slots=True)
class _TileRule:
    """Tile-based models: low detail costs ``base``; high adds ``tile`` per 512px square."""

    base: int
    tile: int
    short_side: int = 768


# Patch-based models: tokens = 32px patches (capped at 1536) x multiplier; detail is ignored.
_PATCH_MULTIPLIERS: tuple[tuple[str, float], ...] = (
    ("gpt-5-mini", 1.62),
    ("gpt-5-nano", 2.46),
    ("gpt-4.1-mini", 1.62),
    ("gpt-4.1-nano", 2.46),
    ("o4-mini", 1.72),
)
_TILE_RULES: tuple[tuple[str, _TileRule], ...] = (
    ("gpt-4o-mini", _TileRule(2833, 5667)),
    ("gpt-image", _TileRule(65, 129, short_side=512)),
    ("computer-use-preview", _TileRule(65, 129)),
    ("gpt-5", _TileRule(70, 140)),
    ("o1", _TileRule(75, 150)),
    ("o3", _TileRule(75, 150)),
)
_DEFAULT_TILE_RULE = _TileRule(85, 170)  # gpt-4o, gpt-4.1, gpt-4.5, gpt-4-turbo, unknown
_PATCH = 32
_MAX_PATCHES = 1536


def _tile_tokens(width: int, height: int, detail: str, rule: _TileRule) -> int:
    """Fit in 2048x2048, shrink the short side to 768 (512 for gpt-image), count 512px tiles."""
    if detail == "low":
        return rule.base
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = round(w * scale), round(h * scale)
    if min(w, h) > rule.short_side:
        scale = rule.short_side / min(w, h)
        w, h = round(w * scale), round(h * scale)
    tiles = math.ceil(w / 512) * math.ceil(h / 512)
    return rule.base + rule.tile * tiles


def _patch_count(width: int, height: int) -> int:
    """32px patches; above 1536, shrink so a whole number of patches fits (docs' algorithm)."""
    patches = math.ceil(width / _PATCH) * math.ceil(height / _PATCH)
    if patches <= _MAX_PATCHES:
        return patches
    ratio = math.sqrt(_PATCH * _PATCH * _MAX_PATCHES / (width * height))
    across, down = width * ratio / _PATCH, height * ratio / _PATCH
    ratio *= min(math.floor(across) / across, math.floor(down) / down)
    resized_w, resized_h = int(width * ratio), int(height * ratio)
    patches = math.ceil(resized_w / _PATCH) * math.ceil(resized_h / _PATCH)
    return min(patches, _MAX_PATCHES)


def image_tokens(width: int, height: int, detail: str, model: str) -> int:
    """Tokens one image costs ``model``; ``auto`` detail is counted as ``high`` (upper bound)."""
    name = base_model(model)
    for prefix, multiplier in _PATCH_MULTIPLIERS:
        if name.startswith(prefix):
            # Docs give no rounding for patches x multiplier; ceil never under-reserves.
            return math.ceil(_patch_count(width, height) * multiplier)
    rule = next((r for p, r in _TILE_RULES if name.startswith(p)), _DEFAULT_TILE_RULE)
    return _tile_tokens(width, height, detail, rule)


def _png_size(data: bytes) -> tuple[int, int] | None:
    """PNG: the IHDR chunk right after the signature holds big-endian width and height."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """JPEG: walk marker segments to the first SOFn, which holds height then width."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers carry no length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    """GIF: little-endian logical screen width and height follow the 6-byte signature."""
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


def image_size_from_data_url(url: str) -> tuple[int, int] | None:
    """(width, height) of a base64 ``data:`` image, or None if absent or unparseable."""
    if not url.startswith("data:"):
        return None
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        return None
    try:
        data = binascii.a2b_base64(payload)
    except (binascii.Error, ValueError):
        return None
    size = _png_size(data) or _jpeg_size(data) or _gif_size(data)
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size
