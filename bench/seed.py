"""Seed a database with realistic traffic THROUGH the recorder's own write path.

Run: .venv/bin/python bench/seed.py --url sqlite:///bench.db [--requests 10000000] [--days 30]
     .venv/bin/python bench/seed.py --url postgresql://…/bench --copy-from sqlite:///bench.db

Events are generated in time order (as live traffic arrives) and written in chunks with
``collector.recorder.write_batch`` — the same inserts, idempotency check and
``rollup.aggregate`` / ``aggregate_tags`` upserts the background recorder performs, so the
rollups are exactly what production would hold. The shape, per the analytics brief:
5 projects, 20 keys (4 per project), 50 end users (each bound to one key, with 3 favourite
models), 8 models (one fine-tune is unpriced), a diurnal curve over ``--days`` days,
~2 % failed requests (upstream errors, timeouts, client errors, blocked, cancelled),
~4 % of successes rescued by a retry, 40 % streams with TTFT, cached and reasoning tokens,
~4 % of non-stream successes sent through the Batch API and ~6 % of o-series ones on the
flex tier (priced by the real cost engine, so the Spend page's savings have rows to read).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, event, func, select, text

from collector.db import ApiKey, Project, make_engine, session_scope, upgrade_head
from collector.db.models import Request, hourly_rollups
from collector.pricing import compute_cost
from collector.recorder import AttemptEvent, UsageEvent, write_batch
from collector.ulid import ulid
from collector.usage import Usage

# model: (input, cached input, output) USD per 1M tokens; None = unpriced; base ms; tokens/s
MODELS: dict[str, tuple[tuple[str, str, str] | None, float, float]] = {
    "gpt-4o-mini-2024-07-18": (("0.15", "0.075", "0.60"), 350, 90),
    "gpt-4o-2024-08-06": (("2.50", "1.25", "10.00"), 450, 70),
    "gpt-4.1-2025-04-14": (("2.00", "0.50", "8.00"), 450, 75),
    "gpt-4.1-mini-2025-04-14": (("0.40", "0.10", "1.60"), 300, 110),
    "gpt-4.1-nano-2025-04-14": (("0.10", "0.025", "0.40"), 200, 160),
    "o3-2025-04-16": (("2.00", "0.50", "8.00"), 1500, 60),
    "o4-mini-2025-04-16": (("1.10", "0.275", "4.40"), 900, 90),
    "ft:gpt-4o-mini-2024-07-18:acme::custom": (None, 400, 85),
}
MODEL_NAMES = tuple(MODELS)
PROJECTS = ("checkout", "search", "support-bot", "analytics", "labs")
TEAMS = ("payments", "discovery", "cx", "data", "research")
OUTCOMES = (("success", 0.98), ("upstream_error", 0.007), ("client_error", 0.006),
            ("timeout", 0.003), ("blocked", 0.002), ("cancelled", 0.002))  # fmt: skip
_UNIT = Decimal(10) ** -10


def _units_per_token(price: str) -> int:
    """Price per 1M tokens → price per token in 1e-10 USD (exact for ≤ 4 decimals)."""
    return int(Decimal(price) * 10_000)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    key_id: int
    project_id: int
    tags: dict[str, str]
    models: tuple[str, ...]


def ulid_at(ms: int, rng: random.Random) -> str:
    """A ULID whose time part is ``ms``, so ids sort like started_at (as live ids would)."""
    return ulid(ms, rng.getrandbits(80))


def setup_tenants(engine: Engine, rng: random.Random) -> list[User]:
    """5 projects, 20 keys, 50 users; idempotent on a database seeded before."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        projects = {p.name: p.id for p in session.query(Project)}
        for name in PROJECTS:
            if name not in projects:
                project = Project(name=name, created_at=now)
                session.add(project)
                session.flush()
                projects[name] = project.id
        keys = {k.prefix: k.id for k in session.query(ApiKey)}
        for k in range(20):
            prefix = f"sk-ss-{k:02d}"
            if prefix not in keys:
                pid = projects[PROJECTS[k % 5]]
                key = ApiKey(project_id=pid, key_hash=f"{k:064x}", prefix=prefix,
                             name=f"{PROJECTS[k % 5]}-{k}", tags={}, created_at=now)  # fmt: skip
                session.add(key)
                session.flush()
                keys[prefix] = key.id
    users = []
    for u in range(50):
        k = u % 20
        tags = {"team": TEAMS[k % 5], "env": "staging" if k % 4 == 0 else "prod"}
        favourite = tuple(rng.sample(MODEL_NAMES[:7], 3))
        if u % 10 == 0:
            favourite = (MODEL_NAMES[7], *favourite[:2])  # the unpriced fine-tune
        users.append(User(f"user-{u:02d}", keys[f"sk-ss-{k:02d}"],
                          projects[PROJECTS[k % 5]], tags, favourite))  # fmt: skip
    return users


PRICES = {
    m: tuple(_units_per_token(p) for p in spec[0]) if spec[0] else None
    for m, spec in MODELS.items()
}


def _cost(model: str, prompt: int, cached: int, completion: int) -> tuple[Decimal | None, str]:
    price = PRICES[model]
    if price is None:
        return None, "unpriced"
    units = (prompt - cached) * price[0] + cached * price[1] + completion * price[2]
    return Decimal(units).scaleb(-10), "computed"


def _attempt(no: int, at: datetime, ms: float, model: str, status: int | None) -> AttemptEvent:
    error = None if status == 200 else ("timeout" if status is None else "server_error")
    return AttemptEvent(no, at, ms, model=model, upstream="openai", http_status=status,
                        error_type=error)  # fmt: skip


def make_event(rng: random.Random, user: User, started: datetime) -> UsageEvent:
    """One realistic request of ``user`` at ``started``."""
    model = user.models[0 if rng.random() < 0.7 else 1 if rng.random() < 0.67 else 2]
    _, base_ms, tps = MODELS[model]
    outcome = rng.choices([o for o, _ in OUTCOMES], [w for _, w in OUTCOMES])[0]
    prompt = min(int(rng.lognormvariate(6.3, 1.0)) + 8, 120_000)
    cached = int(prompt * rng.uniform(0.3, 0.9)) // 128 * 128 if rng.random() < 0.3 else 0
    completion = min(int(rng.lognormvariate(5.0, 0.8)) + 1, 16_000)
    reasoning = int(completion * rng.uniform(0.5, 0.8)) if model.startswith("o") else 0
    duration = base_ms * rng.lognormvariate(0, 0.35) + completion / tps * 1000
    stream = rng.random() < 0.4
    ms_epoch = int(started.timestamp() * 1000)
    ev = UsageEvent(
        id=ulid_at(ms_epoch, rng), started_at=started, duration_ms=round(duration, 3),
        endpoint="/v1/chat/completions", outcome=outcome, cost_source="computed",
        model_requested=model.split(":")[0] if model.startswith("ft:") else model[:-11],
        model_served=model, stream=stream, project_id=user.project_id,
        api_key_id=user.key_id, end_user=user.name, tags=user.tags, upstream="openai",
    )  # fmt: skip
    if outcome == "success" or outcome == "cancelled":
        _usage(ev, rng, prompt, cached, completion, reasoning, model, started)
    else:
        _failure(ev, rng, model, started)
    return ev


def _usage(ev: UsageEvent, rng: random.Random, prompt: int, cached: int, completion: int,
           reasoning: int, model: str, started: datetime) -> None:  # fmt: skip
    ev.http_status = 200 if ev.outcome == "success" else 499
    ev.prompt_tokens, ev.cached_tokens = prompt, cached
    ev.completion_tokens, ev.reasoning_tokens = completion, reasoning
    ev.cost_usd, ev.cost_source = _cost(model, prompt, cached, completion)
    if ev.outcome == "success" and not ev.stream and PRICES[model] is not None:
        _batch_or_flex(ev, rng, model, started)
    if ev.stream:
        ev.ttft_ms = round(ev.duration_ms * rng.uniform(0.08, 0.35), 3)
    tries = [_attempt(1, started, ev.duration_ms, model, 200)]
    if ev.outcome == "success" and rng.random() < 0.04:  # rescued by a retry
        first = rng.choice((429, 500, 502, 503))
        tries = [_attempt(1, started, rng.uniform(20, 400), model, first),
                 _attempt(2, started, ev.duration_ms, model, 200)]  # fmt: skip
    ev.attempts = tries


def _batch_or_flex(ev: UsageEvent, rng: random.Random, model: str, started: datetime) -> None:
    """Some non-stream successes ran as batch jobs or on the flex tier, at those rates."""
    draw = rng.random()
    if draw < 0.04:
        ev.batch = True
    elif draw < 0.10 and model.startswith(("o3", "o4")):
        ev.service_tier = "flex"
    else:
        return
    usage = Usage(prompt_tokens=ev.prompt_tokens, completion_tokens=ev.completion_tokens,
                  cached_tokens=ev.cached_tokens, reasoning_tokens=ev.reasoning_tokens)  # fmt: skip
    cost = compute_cost(usage, model, started, batch=ev.batch, service_tier=ev.service_tier)
    ev.cost_usd, ev.cost_source = cost.cost_usd, cost.cost_source.value


def _failure(ev: UsageEvent, rng: random.Random, model: str, started: datetime) -> None:
    ev.cost_usd = Decimal(0)
    ev.stream = False
    if ev.outcome == "upstream_error":
        status = rng.choice((429, 500, 502, 503))
        ev.http_status, ev.error_type = status, "server_error"
        ev.error_message = f"upstream returned {status} after 3 attempts"
        ev.attempts = [_attempt(n, started, rng.uniform(50, 900), model, status) for n in (1, 2, 3)]
    elif ev.outcome == "timeout":
        ev.error_type, ev.error_message = "timeout", "upstream read timeout"
        ev.duration_ms = 120_000.0 + rng.uniform(0, 500)
        ev.attempts = [_attempt(n, started, 60_000.0, model, None) for n in (1, 2)]
    elif ev.outcome == "client_error":
        ev.http_status, ev.error_type = 400, "invalid_request_error"
        ev.error_message = "context_length_exceeded"
        ev.duration_ms = rng.uniform(30, 200)
        ev.attempts = [_attempt(1, started, ev.duration_ms, model, 400)]
    else:  # blocked by our own policy: never reached upstream
        ev.http_status, ev.error_type = 429, "budget_exceeded"
        ev.error_message = "hard budget exceeded"
        ev.duration_ms = rng.uniform(0.5, 3)


def _diurnal(hour: int) -> float:
    """Traffic by UTC hour of day: a working-day bump on a night floor."""
    return 0.35 + math.exp(-(((hour - 14) / 4.5) ** 2))


def events(total: int, start: datetime, days: int, rng: random.Random,
           users: list[User]) -> Iterator[UsageEvent]:  # fmt: skip
    """``total`` events over ``days`` days from ``start``, in time order."""
    hours = [start + timedelta(hours=h) for h in range(days * 24)]
    weights = [_diurnal(h.hour) * (0.8 if h.weekday() >= 5 else 1.0) for h in hours]
    scale = total / sum(weights)
    made, carry = 0, 0.0
    user_weights = [1.0 / (1 + i % 7) for i in range(len(users))]  # some users are busier
    for hour, weight in zip(hours, weights, strict=True):
        carry += weight * scale
        n = min(int(carry), total - made) if hour != hours[-1] else total - made
        carry -= n
        offsets = sorted(rng.random() * 3600 for _ in range(n))
        chosen = rng.choices(users, user_weights, k=n)
        for offset, user in zip(offsets, chosen, strict=True):
            yield make_event(rng, user, hour + timedelta(seconds=offset))
        made += n


def _fast_sqlite(engine: Engine) -> None:
    """A bigger page cache for the bulk load (the engine's WAL settings stay)."""
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _cache(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("PRAGMA cache_size=-524288")  # 512 MiB
            dbapi_conn.execute("PRAGMA temp_store=MEMORY")


def seed(url: str, total: int, days: int, end: datetime, chunk: int, seed_value: int) -> None:
    rng = random.Random(seed_value)
    upgrade_head(url)
    engine = make_engine(url)
    _fast_sqlite(engine)
    users = setup_tenants(engine, rng)
    start = end - timedelta(days=days)
    began = time.perf_counter()
    batch: list[UsageEvent] = []
    written = 0
    for ev in events(total, start, days, rng, users):
        batch.append(ev)
        if len(batch) >= chunk:
            written += write_batch(engine, batch)
            batch.clear()
            if written % (chunk * 25) == 0:
                rate = written / (time.perf_counter() - began)
                print(f"  {written:>12,} requests  {rate:>9,.0f}/s", flush=True)
    written += write_batch(engine, batch)
    took = time.perf_counter() - began
    _summary(engine, written, took)
    engine.dispose()


def _summary(engine: Engine, written: int, took: float) -> None:
    with engine.connect() as conn:
        requests = conn.scalar(select(func.count()).select_from(Request.__table__))
        rollups = conn.scalar(select(func.count()).select_from(hourly_rollups))
        if engine.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))
        else:
            conn.execute(text("ANALYZE"))
            conn.commit()
    print(f"seeded {written:,} requests in {took:,.1f} s ({written / took:,.0f}/s); "
          f"requests table: {requests:,} rows; hourly_rollups: {rollups:,} rows")  # fmt: skip


def copy_database(source: str, target: str) -> None:
    """Copy every row of a seeded SQLite database into an empty, migrated PostgreSQL one.

    The same recorder-written rows and rollups, moved with ``COPY`` (the recorder's write
    path on PostgreSQL is ~10 k events/s: 10 M would take most of an hour). Money columns
    go from SQLite's 1e-10 USD integers back to exact decimals.
    """
    import sqlite3

    from sqlalchemy import Integer

    from collector.db.models import Base
    from collector.db.types import Money

    upgrade_head(target)
    engine = make_engine(target)
    src = sqlite3.connect(make_engine(source).url.database or "")
    tables = [t for t in Base.metadata.sorted_tables if t.name != "alembic_version"]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("TRUNCATE " + ", ".join(t.name for t in tables) + " CASCADE")
        for table in tables:
            names = [c.name for c in table.columns]
            money = [isinstance(c.type, Money) for c in table.columns]
            began, n = time.perf_counter(), 0
            rows = src.execute(f"SELECT {', '.join(names)} FROM {table.name}")
            with cur.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([Decimal(v).scaleb(-10) if m and v is not None else v
                                    for v, m in zip(row, money, strict=True)])  # fmt: skip
                    n += 1
            print(f"  {table.name}: {n:,} rows in {time.perf_counter() - began:,.1f} s", flush=True)
        for table in tables:
            if "id" in table.c and isinstance(table.c.id.type, Integer):
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"coalesce(max(id), 1)) FROM {table.name}")  # fmt: skip
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=os.environ.get("SPENDSCOPE_DATABASE_URL", "sqlite:///bench.db")
    )
    parser.add_argument("--requests", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--end", default="2026-11-01T00:00:00+00:00", help="UTC end (ISO)")
    parser.add_argument("--chunk", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--copy-from", metavar="SQLITE_URL", help="copy a seeded SQLite database")
    args = parser.parse_args()
    if args.copy_from:
        copy_database(args.copy_from, args.url)
        return
    end = datetime.fromisoformat(args.end).astimezone(UTC)
    seed(args.url, args.requests, args.days, end, args.chunk, args.seed)


if __name__ == "__main__":
    main()
