"""Keyset pages of the requests table, and the indexed search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, delete, text, update

from collector.analytics import Cursor, Filters, requests_page, requests_seek
from collector.db import Request
from collector.recorder import UsageEvent, write_batch
from tests.analytics.conftest import Seeded
from tests.factories import make_event

WHOLE = Filters(datetime(2026, 10, 31, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))


def _order(events: tuple[UsageEvent, ...] | list[UsageEvent], newest: bool = True) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (e.started_at, e.id), reverse=newest)]


@pytest.mark.parametrize("descending", [True, False])
def test_next_pages_walk_every_request_once_in_order(
    engine: Engine, seeded: Seeded, descending: bool
) -> None:
    page = requests_seek(engine, WHOLE, page_size=17, descending=descending)
    assert not page.has_prev
    ids = list(page.rows["id"])
    while page.has_next:
        page = requests_seek(
            engine, WHOLE, direction="next", cursor=page.last, page_size=17, descending=descending
        )
        assert page.has_prev
        ids += list(page.rows["id"])
    assert ids == _order(seeded.events, newest=descending)
    assert page.total == 213


def test_prev_pages_walk_back_from_the_last(engine: Engine, seeded: Seeded) -> None:
    page = requests_seek(engine, WHOLE, direction="last", page_size=20)
    assert (page.has_prev, page.has_next) == (True, False)
    pages = [list(page.rows["id"])]
    while page.has_prev:
        page = requests_seek(engine, WHOLE, direction="prev", cursor=page.first, page_size=20)
        assert page.has_next
        pages.insert(0, list(page.rows["id"]))
    # the walk back ends on the first page, full, then the rest as they were shown
    assert pages[0] == _order(seeded.events)[:20]
    rest = [i for page in pages[1:] for i in page]
    assert rest == _order(seeded.events)[-len(rest) :]


def test_prev_after_next_shows_the_same_page_and_matches_offset_pages(
    engine: Engine, seeded: Seeded
) -> None:
    first = requests_seek(engine, WHOLE, page_size=50)
    second = requests_seek(engine, WHOLE, direction="next", cursor=first.last, page_size=50)
    back = requests_seek(engine, WHOLE, direction="prev", cursor=second.first, page_size=50)
    assert list(back.rows["id"]) == list(first.rows["id"])
    again = requests_seek(engine, WHOLE, direction="at", cursor=second.first, page_size=50)
    assert list(again.rows["id"]) == list(second.rows["id"])
    by_offset, _ = requests_page(engine, WHOLE, page=2, page_size=50)
    assert list(second.rows["id"]) == list(by_offset["id"])
    assert second.rows.drop(columns=[]).equals(by_offset)


def test_filters_apply_to_keyset_pages(engine: Engine, seeded: Seeded) -> None:
    beta = Filters(WHOLE.start, WHOLE.end, project_ids=(seeded.beta,))
    page = requests_seek(engine, beta, direction="last", page_size=60, outcome="success")
    assert set(page.rows["project"]) == {"beta"}
    assert set(page.rows["outcome"]) == {"success"}
    assert page.total == 199


def test_cursor_tokens_round_trip_and_bad_ones_are_refused(engine: Engine) -> None:
    c = Cursor(datetime(2026, 11, 1, 12, 0, 5, 7, tzinfo=UTC), "req_abc~d")
    assert Cursor.parse(c.token()) == c
    for bad in ("", "2026-11-01", "nonsense~id", "2026-11-01T12:00:00~id", "2026-11-01T12:00Z~"):
        with pytest.raises(ValueError, match="not a requests cursor"):
            Cursor.parse(bad)
    with pytest.raises(ValueError, match="needs a cursor"):
        requests_seek(engine, WHOLE, direction="next")
    with pytest.raises(ValueError, match="direction"):
        requests_seek(engine, WHOLE, direction="sideways")  # type: ignore[arg-type]


def _errors(engine: Engine) -> list[UsageEvent]:
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    messages = [
        "Request timed out after 600 s (read TIMEOUT)",
        "upstream 502: Bad gateway",
        "rate limited: 100% of tpm_limit used",
        None,
    ]
    events = [
        make_event(
            started_at=at + timedelta(seconds=i),
            outcome="upstream_error",
            error_message=m,
            upstream_request_id=f"upreq-{i}",
        )
        for i, m in enumerate(messages)
    ]
    write_batch(engine, events)
    return events


def _found(engine: Engine, needle: str) -> list[str]:
    return list(requests_seek(engine, WHOLE, page_size=100, search=needle).rows["id"])


def test_search_matches_error_text_in_any_case_and_ids_exactly(engine: Engine) -> None:
    e = _errors(engine)
    assert _found(engine, "timeout") == [e[0].id]
    assert _found(engine, "Timed Out") == [e[0].id]
    assert _found(engine, "100%") == [e[2].id]  # a LIKE wildcard is matched as itself
    assert _found(engine, "tpm_") == [e[2].id]
    assert _found(engine, "50") == [e[1].id]  # too short for trigrams: read from the range
    assert _found(engine, 'say "hi"') == []
    assert _found(engine, "upreq-3") == [e[3].id]
    assert _found(engine, "upreq-") == []  # ids match whole
    assert _found(engine, e[1].id) == [e[1].id]
    assert requests_page(engine, WHOLE, search="GATEWAY")[1] == 1


def test_search_index_follows_updates_and_deletes(engine: Engine) -> None:
    e = _errors(engine)
    with engine.begin() as conn:
        conn.execute(update(Request).where(Request.id == e[3].id).values(error_message="boom"))
        conn.execute(
            update(Request).where(Request.id == e[1].id).values(error_message="now a timeout")
        )
        conn.execute(delete(Request).where(Request.id == e[0].id))
    assert _found(engine, "timeout") == [e[1].id]
    assert _found(engine, "boom") == [e[3].id]
    assert _found(engine, "gateway") == []


def test_search_reads_the_text_index(engine: Engine) -> None:
    _errors(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT rowid FROM requests_fts "
                    "WHERE requests_fts MATCH '\"timeout\"'"
                )
            ).all()
            assert any("VIRTUAL TABLE INDEX" in str(row) for row in plan)
        else:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = conn.execute(
                text("EXPLAIN SELECT id FROM requests WHERE error_message ILIKE '%timeout%'")
            ).all()
            # the index, or on monthly partitions (migration 0031) each partition's part of it
            parts = conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = to_regclass('ix_requests_error_trgm')"
                )
            ).scalars()
            names = {"ix_requests_error_trgm", *parts}
            assert any(f"Index Scan on {name}" in str(row) for row in plan for name in names)


def test_a_cursor_outside_the_range_gives_an_empty_page(engine: Engine, seeded: Seeded) -> None:
    before = Cursor(WHOLE.start - timedelta(days=1), "x")
    page = requests_seek(engine, WHOLE, direction="next", cursor=before)
    assert page.rows.empty and (page.first, page.has_next, page.total) == (None, False, 213)
    after = Cursor(WHOLE.end + timedelta(days=1), "x")
    page = requests_seek(engine, WHOLE, direction="next", cursor=after, page_size=7)
    assert list(page.rows["id"]) == _order(seeded.events)[:7]


def test_a_search_counts_its_matches_up_to_a_cap(engine: Engine, seeded: Seeded) -> None:
    """Past the cap the total says "more than" (cap + 1); the rows are the same."""
    _errors(engine)
    every = requests_seek(engine, WHOLE, page_size=100, search="upreq-0")
    assert every.total == 1
    tagged = Filters(WHOLE.start, WHOLE.end, tags=("team=ml",))
    assert requests_seek(engine, tagged, page_size=5).total == 200
    capped = requests_seek(engine, tagged, page_size=5, count_cap=10)
    assert capped.total == 11
    exact = requests_seek(engine, tagged, page_size=5)
    assert list(capped.rows["id"]) == list(exact.rows["id"])
    assert requests_seek(engine, WHOLE, search="timeout", count_cap=1).total == 1  # not more
    assert requests_seek(engine, WHOLE, search="u", count_cap=1).total == 2  # 3 match
    assert requests_page(engine, tagged, page=40, page_size=5, count_cap=10)[1] == 11
