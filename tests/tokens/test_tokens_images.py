"""Vision token rules and image sizes from data URLs."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from collector.tokens import (
    UNKNOWN_IMAGE_SIZE,
    count_chat_prompt_tokens,
    count_image_tokens,
    image_size_from_data_url,
)


def _png(width: int, height: int) -> bytes:
    """A minimal PNG header (signature + IHDR), enough for size sniffing."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + crc


def _jpeg(width: int, height: int) -> bytes:
    """SOI, an APP0 segment to skip, then a baseline SOF0 with the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def _data_url(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


# OpenAI docs, "Images and vision" -> "Calculating costs": worked examples for gpt-4o.
@pytest.mark.parametrize(
    ("width", "height", "detail", "expected"),
    [(1024, 1024, "high", 765), (2048, 4096, "high", 1105), (4096, 8192, "low", 85)],
)
def test_documented_gpt4o_examples(width: int, height: int, detail: str, expected: int) -> None:
    assert count_image_tokens(width, height, "gpt-4o", detail) == expected


def test_per_model_tile_tables() -> None:
    # Same docs table: base/tile per family, 1024x1024 high -> 4 tiles.
    assert count_image_tokens(1024, 1024, "gpt-4o-mini", "high") == 2833 + 4 * 5667
    assert count_image_tokens(1024, 1024, "o3", "high") == 75 + 4 * 150
    assert count_image_tokens(1024, 1024, "gpt-5", "high") == 70 + 4 * 140
    assert count_image_tokens(1024, 1024, "gpt-4.1", "low") == 85


def test_community_measured_rounding_at_the_2048_boundary() -> None:
    # community.openai.com/t/1281361: gpt-4.1 billed 2049x513 as 8 tiles, 2050x513 as 4.
    assert count_image_tokens(2049, 513, "gpt-4.1", "high") == 85 + 8 * 170
    assert count_image_tokens(2050, 513, "gpt-4.1", "high") == 85 + 4 * 170


def test_small_images_are_not_upscaled() -> None:
    assert count_image_tokens(128, 64, "gpt-4o", "high") == 85 + 170


def test_patch_models_use_the_documented_patch_counts() -> None:
    # Docs: 1024x1024 -> 1024 patches; 1800x2400 -> resized 1056x1408 -> 1452 patches.
    assert count_image_tokens(1024, 1024, "gpt-4.1-mini") == 1659  # ceil(1024 * 1.62)
    assert count_image_tokens(1800, 2400, "gpt-4.1-mini") == 2353  # ceil(1452 * 1.62)
    assert count_image_tokens(1800, 2400, "o4-mini", "low") == 2498  # ceil(1452 * 1.72)
    assert count_image_tokens(128, 64, "gpt-4.1-nano") == 20  # ceil(8 * 2.46)


def test_png_and_jpeg_sizes_are_read_from_headers() -> None:
    assert image_size_from_data_url(_data_url("png", _png(1920, 1080))) == (1920, 1080)
    assert image_size_from_data_url(_data_url("jpeg", _jpeg(640, 480))) == (640, 480)
    assert image_size_from_data_url("data:image/png;base64,bm90IGFuIGltYWdl") is None
    assert image_size_from_data_url("https://example.com/cat.png") is None


def _image_message(url: str, detail: str) -> list[dict[str, object]]:
    part = {"type": "image_url", "image_url": {"url": url, "detail": detail}}
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}]


def test_chat_counts_images_by_size_and_detail() -> None:
    text_only = count_chat_prompt_tokens(
        [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}], "gpt-4o"
    )
    big = _data_url("png", _png(2048, 4096))
    assert count_chat_prompt_tokens(_image_message(big, "high"), "gpt-4o") == text_only + 1105
    assert count_chat_prompt_tokens(_image_message(big, "low"), "gpt-4o") == text_only + 85
    remote = count_chat_prompt_tokens(_image_message("https://x.test/a.jpg", "auto"), "gpt-4o")
    assert remote == text_only + count_image_tokens(*UNKNOWN_IMAGE_SIZE, "gpt-4o", "high")
