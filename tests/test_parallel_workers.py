"""Under pytest-xdist, each worker's Redis database is its own and within the allowed range."""

from __future__ import annotations

import pytest

from tests.support.redis_server import worker_db

CI = "redis://127.0.0.1:6379/15"


@pytest.mark.parametrize("worker", ["", "master"])
def test_a_run_without_workers_keeps_the_named_database(worker: str) -> None:
    assert worker_db(CI, worker) == CI


def test_workers_count_down_from_the_named_database() -> None:
    dbs = [worker_db(CI, f"gw{n}") for n in range(4)]
    assert dbs == [f"redis://127.0.0.1:6379/{db}" for db in (15, 14, 13, 12)]


def test_more_workers_than_databases_wrap_and_never_reach_database_0() -> None:
    dbs = {worker_db("redis://h:6379/3", f"gw{n}").rsplit("/", 1)[1] for n in range(10)}
    assert dbs == {"3", "2", "1"}


def test_a_listed_set_of_databases_is_used_in_turn() -> None:
    dbs = [worker_db(CI, f"gw{n}", "13, 14").rsplit("/", 1)[1] for n in range(3)]
    assert dbs == ["13", "14", "13"]


def test_the_password_and_host_are_kept() -> None:
    assert worker_db("redis://:pw@cache:6380/9", "gw2") == "redis://:pw@cache:6380/7"
