"""The forwardable-path check remembers paths it passed, never ones it refused."""

from __future__ import annotations

from typing import Any

import pytest

from collector.errors import NotFound
from collector.gateway import _paths


def _scope(path: str, raw: bytes | None = None) -> dict[str, Any]:
    return {"method": "POST", "path": path, "raw_path": raw if raw is not None else path.encode()}


def test_a_passed_path_is_remembered_and_a_refused_one_is_not() -> None:
    _paths._checked.clear()
    _paths.check_path(_scope("/v1/chat/completions"))
    assert "/v1/chat/completions" in _paths._checked
    with pytest.raises(NotFound):
        _paths.check_path(_scope("/v1/../admin"))
    assert "/v1/../admin" not in _paths._checked
    with pytest.raises(NotFound):  # refused again: nothing about it was remembered
        _paths.check_path(_scope("/v1/../admin"))


def test_percent_encoding_is_refused_even_when_its_decoded_path_was_passed() -> None:
    _paths._checked.clear()
    _paths.check_path(_scope("/v1/chat/completions"))
    with pytest.raises(NotFound):
        _paths.check_path(_scope("/v1/chat/completions", b"/v1/chat%2Fcompletions"))


def test_the_memory_is_bounded() -> None:
    _paths._checked.clear()
    for n in range(_paths._CHECKED_MAX + 10):
        _paths.check_path(_scope(f"/v1/files/file-{n}"))
    assert len(_paths._checked) <= _paths._CHECKED_MAX
