"""The replica's lag as the dashboard reports it, for the cases a live pair does not show:
an unreachable replica, a "replica" that is a primary, and SQLite."""

from __future__ import annotations

from pathlib import Path

from collector.db import make_engine
from collector.db.replica import CAUGHT_UP, ReplicaLag, describe, replica_lag
from tests.support.pg_replica import ReplicatedDatabase

_DOWN = "postgresql+psycopg://postgres@127.0.0.1:9/nothing"  # port 9 refuses at once


def test_an_unreachable_replica_counts_as_behind(replicated: ReplicatedDatabase) -> None:
    primary, down = make_engine(replicated.primary_url), make_engine(_DOWN)
    try:
        lag = replica_lag(primary, down)
    finally:
        primary.dispose()
        down.dispose()
    assert (lag.seconds, lag.bytes) == (None, None)
    assert lag.exceeds(3600.0)
    assert describe(lag).startswith("lag unknown (replica unreachable: ")


def test_a_primary_read_as_the_replica_is_never_behind(replicated: ReplicatedDatabase) -> None:
    primary = make_engine(replicated.primary_url)
    try:
        assert replica_lag(primary, primary) == CAUGHT_UP  # e.g. a promoted standby
    finally:
        primary.dispose()


def test_the_replica_alone_stands_in_for_a_primary_that_is_down(
    replicated: ReplicatedDatabase,
) -> None:
    down, replica = make_engine(_DOWN), make_engine(replicated.replica_url)
    try:
        lag = replica_lag(down, replica)  # what it received stands in for the primary's
    finally:
        down.dispose()
        replica.dispose()
    assert lag.seconds is not None and not lag.exceeds(30.0), lag  # known, and not behind


def test_sqlite_has_no_lag(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    try:
        assert replica_lag(engine, engine) == CAUGHT_UP
    finally:
        engine.dispose()


def test_describe_says_time_and_bytes() -> None:
    assert describe(ReplicaLag(seconds=75.4, bytes=123456)) == (
        "0:01:15 behind the primary, 123,456 bytes of WAL not yet replayed"
    )
    assert not ReplicaLag(seconds=1.0, bytes=10).exceeds(1.0)
