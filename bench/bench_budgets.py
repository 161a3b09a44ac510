"""Hard-budget reserve+settle operations/s (SQLite, PostgreSQL) and rate-limit checks/s
(in-process vs Redis), sequential and with concurrent workers.

Run: .venv/bin/python bench/bench_budgets.py [--ops N] [--pg URL] [--redis URL]
A reserve+settle pair is what one admitted request costs the database on the hard-budget path.
"one call per op" calls ``reserve``/``settle`` directly (two transactions per request, threads
as workers); "ledger" is the gateway's path: N concurrent requests in one process each await
their reserve and queue their settle, and the :class:`Ledger` commits everything queued in one
batch at a time (group commit); "leases" is the gateway's default path far from the limit:
a :class:`LeasePool` over the ledger reserves headroom for many requests in one transaction
and admits from it in memory. The gateway-level ratio is ``bench_admission.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

from collector.budgets import (
    BudgetSpec,
    LeasePool,
    Ledger,
    Mode,
    Reservation,
    ReserveAsk,
    SettleAsk,
    create_budget,
    parse_period,
    parse_scope,
    reserve,
    settle,
)
from collector.db import make_engine, upgrade_head
from collector.ratelimit import InProcessLimiter, Limit, RateLimiter, RedisLimiter

NOW = datetime(2026, 11, 15, 12, tzinfo=UTC)
TZ = ZoneInfo("UTC")


def _budget_ops(url: str, ops: int, workers: int) -> float:
    upgrade_head(url)
    engine = (
        make_engine(url, pool_size=workers + 2)
        if url.startswith("postgresql")
        else make_engine(url)
    )
    tag = uuid.uuid4().hex[:6]
    scope = parse_scope(f"user:bench-{tag}")
    spec = BudgetSpec(f"b-{tag}", scope, parse_period("month"), Decimal(10**6), Mode.HARD)
    budget = create_budget(engine, spec, NOW)
    reserve(engine, [budget], Decimal(0), NOW, TZ)  # create the counter row outside the timing

    def run(n: int) -> None:
        for _ in range(n):
            r = reserve(engine, [budget], Decimal("0.01"), NOW, TZ)
            assert isinstance(r, Reservation)
            settle(engine, r, Decimal("0.005"), NOW)

    threads = [threading.Thread(target=run, args=(ops // workers,)) for _ in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return (ops // workers * workers) / elapsed


def _ledger_ops(url: str, ops: int, concurrency: int) -> tuple[float, float]:
    """(ops/s, mean requests per batch) through the Ledger with ``concurrency`` requests."""
    upgrade_head(url)
    engine = make_engine(url)
    tag = uuid.uuid4().hex[:6]
    scope = parse_scope(f"user:bench-{tag}")
    spec = BudgetSpec(f"l-{tag}", scope, parse_period("month"), Decimal(10**6), Mode.HARD)
    budget = create_budget(engine, spec, NOW)
    reserve(engine, [budget], Decimal(0), NOW, TZ)

    async def run() -> tuple[float, float]:
        ledger = Ledger(engine, TZ, timedelta(minutes=15))
        per = ops // concurrency

        async def one() -> None:
            for _ in range(per):
                r = await ledger.reserve(ReserveAsk((budget,), Decimal("0.01"), NOW))
                assert isinstance(r, Reservation)
                ledger.settle_nowait(SettleAsk(r, Decimal("0.005")))

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        assert await ledger.flush(60)
        elapsed = time.perf_counter() - start
        await ledger.aclose()
        return per * concurrency / elapsed, per * concurrency / max(ledger.batches, 1)

    try:
        return asyncio.run(run())
    finally:
        engine.dispose()


def _lease_ops(url: str, ops: int, concurrency: int) -> tuple[float, float]:
    """(ops/s, requests per database batch) admitting from leases of 1024 requests."""
    upgrade_head(url)
    engine = make_engine(url)
    tag = uuid.uuid4().hex[:6]
    spec = BudgetSpec(f"q-{tag}", parse_scope(f"user:bench-{tag}"), parse_period("month"),
                      Decimal(10**6), Mode.HARD)  # fmt: skip
    budget = create_budget(engine, spec, NOW)
    reserve(engine, [budget], Decimal(0), NOW, TZ)

    async def run() -> tuple[float, float]:
        ledger = Ledger(engine, TZ, timedelta(minutes=15))
        pool = LeasePool(ledger, TZ, 1024, 1.0)
        per = ops // concurrency

        async def one() -> None:
            for _ in range(per):
                leases = await pool.admit([budget], Decimal("0.01"), NOW)
                assert leases is not None
                await asyncio.sleep(0)  # the request is upstream
                pool.settle(leases, Decimal("0.01"), Decimal("0.005"))

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(concurrency)))
        pool.retire_all()
        assert await ledger.flush(60)
        elapsed = time.perf_counter() - start
        await ledger.aclose()
        return per * concurrency / elapsed, per * concurrency / max(ledger.batches, 1)

    try:
        return asyncio.run(run())
    finally:
        engine.dispose()


def _budget_rows(table: Table, name: str, url_for: Callable[[str], str], ops: int) -> None:
    for workers in (1, 4):
        rate = _budget_ops(url_for(f"b{workers}"), ops, workers)
        table.add_row("reserve+settle, one call per op", name, f"{workers} threads", f"{rate:,.0f}")
    for conc in (1, 16, 64):
        rate, per_batch = _ledger_ops(url_for(f"l{conc}"), ops, conc)
        label = f"{conc} requests ({per_batch:.1f}/batch)"
        table.add_row("reserve+settle, ledger", name, label, f"{rate:,.0f}")
    for conc in (1, 64):
        rate, per_batch = _lease_ops(url_for(f"q{conc}"), ops * 10, conc)
        label = f"{conc} requests ({per_batch:.0f}/batch)"
        table.add_row("admit+settle, leases", name, label, f"{rate:,.0f}")


async def _limit_checks(limiter: RateLimiter, ops: int, concurrency: int) -> float:
    limits = [Limit(f"key:{uuid.uuid4().hex}:rpm", 10**9, 1, "rpm"),
              Limit(f"key:{uuid.uuid4().hex}:tpm", 10**12, 500, "tpm")]  # fmt: skip
    per = ops // concurrency

    async def run() -> None:
        for _ in range(per):
            assert (await limiter.acquire(limits, datetime.now(UTC))).allowed

    start = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(concurrency)))
    return per * concurrency / (time.perf_counter() - start)


def _pg_schema(pg: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(pg).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{pg}?options=-csearch_path%3D{schema}"


def _limit_rows(table: Table, ops: int, redis_url: str) -> None:
    for conc in (1, 16):
        rate = asyncio.run(_limit_checks(InProcessLimiter(), ops * 10, conc))
        table.add_row("rate-limit check (RPM+TPM)", "in-process", str(conc), f"{rate:,.0f}")

    async def redis_rate(conc: int) -> float:
        limiter = RedisLimiter.from_url(redis_url, f"bench-{uuid.uuid4().hex}")
        try:
            return await _limit_checks(limiter, ops * 2, conc)
        finally:
            await limiter.aclose()

    for conc in (1, 16):
        rate = asyncio.run(redis_rate(conc))
        table.add_row("rate-limit check (RPM+TPM)", "Redis (Lua)", str(conc), f"{rate:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    table = Table("operation", "backend", "concurrency", "ops/s", title="budgets & rate limits")
    with tempfile.TemporaryDirectory() as tmp:
        _budget_rows(table, "SQLite", lambda name: f"sqlite:///{Path(tmp) / name}.db", args.ops)
    schema, pg_url = _pg_schema(args.pg)
    try:
        _budget_rows(table, "PostgreSQL", lambda _name: pg_url, args.ops)
    finally:
        with create_engine(args.pg).begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    _limit_rows(table, args.ops, args.redis)
    Console().print(table)


if __name__ == "__main__":
    main()
