"""A real PostgreSQL primary and its streaming replica, made for a test run and removed after.

Both clusters are new: ``initdb`` makes a primary (trust auth, replication allowed from
127.0.0.1) on a free port under a temporary directory, ``pg_basebackup -R`` copies it into a
standby that streams from it on another free port. The machine's own PostgreSQL is not
touched (its ``pg_hba.conf`` need not allow replication). The servers run as the ``postgres``
user (``initdb`` refuses root) through ``runuser``; without PostgreSQL's binaries the tests
skip, or fail under ``SPENDSCOPE_REQUIRE_POSTGRES=1`` (as CI sets), like the other PostgreSQL
fixtures.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

REQUIRE_PG = os.environ.get("SPENDSCOPE_REQUIRE_POSTGRES") == "1"
_USER = "postgres"


def _bin_dir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them per major version)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ReplicaPair:
    """URLs of the primary and its replica, the replica's data directory and how to run as
    the servers' user."""

    primary_port: int
    replica_port: int
    root: Path

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{_USER}@127.0.0.1:{port}/{database}"

    def primary_url(self, database: str = "postgres") -> str:
        return self.url(self.primary_port, database)

    def replica_url(self, database: str = "postgres") -> str:
        return self.url(self.replica_port, database)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class _Runner:
    """Runs PostgreSQL's programs as the ``postgres`` user (or as ourselves when not root)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0

    def __call__(self, program: str, *args: str) -> None:
        command = [str(self.bin_dir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", _USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip()}")

    def own(self, path: Path) -> None:
        if self.as_root:
            entry = pwd.getpwnam(_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _configure_primary(data: Path, port: int, sockets: Path) -> None:
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{sockets}'\nwal_level = replica\n"
            "max_wal_senders = 4\nfsync = off\nsynchronous_commit = off\n"
            "full_page_writes = off\nshared_buffers = 32MB\nmax_connections = 60\n"
        )
    with (data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
        hba.write("\nhost replication all 127.0.0.1/32 trust\n")


def _wait_ready(url: str, seconds: float = 60.0) -> None:
    engine = create_engine(url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                return
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        engine.dispose()


@contextlib.contextmanager
def replica_pair() -> Iterator[ReplicaPair]:
    """Start a primary and its streaming replica; stop both and remove them on the way out,
    whatever happened in between."""
    bin_dir = _bin_dir()
    message = None
    if bin_dir is None:
        message = "PostgreSQL's server binaries (initdb, pg_basebackup) are not installed"
    elif os.geteuid() == 0 and not _user_exists(_USER):
        message = f"no {_USER!r} user to run PostgreSQL's servers as (initdb refuses root)"
    if bin_dir is None or message is not None:
        if REQUIRE_PG:
            pytest.fail(f"{message} (SPENDSCOPE_REQUIRE_POSTGRES=1)")
        pytest.skip(str(message))
    run = _Runner(bin_dir)
    root = Path(tempfile.mkdtemp(prefix="spendscope-replica-"))
    run.own(root)
    pair = ReplicaPair(_free_port(), _free_port(), root)
    primary, replica, sockets = root / "primary", root / "replica", root
    started: list[Path] = []
    try:
        run("initdb", "-D", str(primary), "-U", _USER, "-A", "trust", "--no-sync", "-E", "UTF8")
        _configure_primary(primary, pair.primary_port, sockets)
        run("pg_ctl", "-D", str(primary), "-l", str(root / "primary.log"), "-w", "start")
        started.append(primary)
        _wait_ready(pair.primary_url())
        run("pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.primary_port), "-U", _USER,
            "-D", str(replica), "-R", "-X", "stream", "--no-sync")  # fmt: skip
        with (replica / "postgresql.auto.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\nport = {pair.replica_port}\nhot_standby_feedback = on\n")
        run("pg_ctl", "-D", str(replica), "-l", str(root / "replica.log"), "-w", "start")
        started.append(replica)
        _wait_ready(pair.replica_url())
        yield pair
    finally:
        for data in reversed(started):
            with contextlib.suppress(Exception):
                run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class ReplicatedDatabase:
    """One migrated database on the primary, as the primary and the replica serve it."""

    primary_url: str
    replica_url: str


def _replicated(url: str, seconds: float = 30.0) -> None:
    """Wait until the replica serves the database (its CREATE DATABASE was replayed)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _wait_ready(url, seconds=0)
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def replicated_database(pair: ReplicaPair, name: str) -> Iterator[ReplicatedDatabase]:
    """A new database at the newest schema on ``pair``'s primary, dropped afterwards."""
    from collector.db import upgrade_head

    admin = create_engine(pair.primary_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        db = ReplicatedDatabase(pair.primary_url(name), pair.replica_url(name))
        upgrade_head(db.primary_url)
        _replicated(db.replica_url)
        wait_caught_up(db)  # the migration's WAL too, not just the CREATE DATABASE
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_caught_up(db: ReplicatedDatabase, seconds: float = 30.0) -> None:
    """Wait until the replica has replayed everything the primary had written when called."""
    primary, replica = create_engine(db.primary_url), create_engine(db.replica_url)
    deadline = time.monotonic() + seconds
    behind = text("SELECT pg_wal_lsn_diff(CAST(:target AS pg_lsn), pg_last_wal_replay_lsn())")
    try:
        with primary.connect() as conn:
            target = str(conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one())
        while True:
            with replica.connect() as conn:
                left = conn.execute(behind, {"target": target}).scalar_one()
            if left is not None and left <= 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the replica is still {left} bytes behind after {seconds} s")
            time.sleep(0.05)
    finally:
        primary.dispose()
        replica.dispose()


def replay_paused(replica_url: str, paused: bool) -> None:
    """Pause or resume the replica's WAL replay (it keeps receiving, and stops applying)."""
    engine = create_engine(replica_url)
    call = "pg_wal_replay_pause()" if paused else "pg_wal_replay_resume()"
    try:
        with engine.connect() as conn:
            conn.execute(text(f"SELECT {call}"))
    finally:
        engine.dispose()
