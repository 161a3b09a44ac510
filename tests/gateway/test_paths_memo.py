"""The forwardable-path check answers the same from its memo as worked out, and the memo
stays bounded whatever paths clients send."""

from __future__ import annotations

from urllib.parse import unquote

from collector.gateway import _paths
from tests.gateway.test_security_paths import ESCAPES

GOOD = ["/v1/chat/completions", "/v1/files/file-abc123/content", "/v1/models/gpt-4o-mini"]


def test_remembered_answers_are_the_worked_out_ones() -> None:
    bad = [unquote(path.split("?")[0]) for _, path in ESCAPES]
    for path in [*GOOD, *bad, "/v1/chat/" + "x" * 300]:
        expected = _paths._forwardable(path)
        assert [_paths.forwardable(path) for _ in range(3)] == [expected] * 3
    assert all(_paths.forwardable(path) for path in GOOD)
    assert not any(_paths.forwardable(path) for path in bad if path not in GOOD)


def test_the_memo_stays_bounded_and_skips_long_paths() -> None:
    for i in range(_paths._MEMO_LIMIT + 10):
        _paths.forwardable(f"/v1/files/file-{i}")
    assert 0 < len(_paths._MEMO) <= _paths._MEMO_LIMIT
    long = "/v1/files/" + "y" * 150 + "/" + "z" * 150
    assert _paths.forwardable(long) and long not in _paths._MEMO
