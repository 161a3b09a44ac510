"""Request ids: ULIDs, random (``new_request_id``) or derived from a key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.recorder import derived_request_id, new_request_id
from collector.ulid import ALPHABET

CROCKFORD = set(ALPHABET)
AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def test_a_derived_id_is_the_same_for_the_same_instant_and_key() -> None:
    first = derived_request_id(AT, "sess_1\x00resp_1")
    assert first == derived_request_id(AT, "sess_1\x00resp_1")
    assert first != derived_request_id(AT, "sess_1\x00resp_2")
    assert first != derived_request_id(AT, "sess_2\x00resp_1")
    assert len(first) == 26 and set(first) <= CROCKFORD


def test_derived_ids_sort_by_time_like_new_ones() -> None:
    earlier = derived_request_id(AT, "zzz")
    later = derived_request_id(AT + timedelta(milliseconds=1), "aaa")
    assert earlier < later
    now = new_request_id()
    assert derived_request_id(datetime.now(UTC) - timedelta(seconds=1), "k") < now
