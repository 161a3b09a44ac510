"""Gateway throughput with a hard budget and rate limits active, as a share of the same
gateway without them — on SQLite and on PostgreSQL, side by side in one run.

Run: .venv/bin/python bench/bench_admission.py [--seconds 3] [--rounds 3] [--pg URL]
     [--redis URL] [--no-pg] [--no-redis]

Per database, two (or four) ``spendscope serve`` processes, each on its own database (SQLite
file / PostgreSQL schema), behind one ``spendscope mock-upstream``:

* **off** — a key without limits, no budgets: admission answers from the cached policy alone;
* **on** — the same traffic under a hard global budget (every request's worst case is held
  and its actual cost booked; far from the limit, as here, from a quota lease the process
  reserves in one transaction for up to ``SPENDSCOPE_BUDGET_LEASE_REQUESTS`` requests) and a
  key with RPM and TPM limits (in-process limiter), all set high enough that nothing is
  refused;
* **on + Redis exact** — as *on*, with the rate limits in Redis (``SPENDSCOPE_REDIS_URL``;
  calls that arrive together share one script call) and rate-limit leasing off
  (``SPENDSCOPE_RATE_LIMIT_LEASE_REQUESTS=0``): every request asks Redis;
* **on + Redis** — as *on + Redis exact* with leasing on (the default): a request that asks
  Redis also takes headroom for the next ones, which are admitted in memory.

Load comes from ``wrk`` (non-streaming chat completion, 16 output tokens) at each concurrency;
rounds interleave the servers and the median round is reported. Ratio = on ÷ off in the same
cell (target ≥ 70 %). The 2-core machine is shared by wrk, the mock and the gateway: trust
ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _servers import (  # sibling modules, not a package
    BIN,
    Server,
    free_port,
    spawn,
    spendscope_env,
    start_mock,
    stop,
    wait_ready,
)
from bench_gateway import wrk_cell

HIGH = str(10**9)  # limits nothing in a benchmark ever reaches


def start_gateway(
    work: Path, upstream: str, name: str, db_url: str | None, guarded: bool, redis: str | None,
    lease: bool = True,
) -> Server:  # fmt: skip
    port = free_port()
    env = spendscope_env(work, name, upstream, port)
    if db_url is not None:
        env["SPENDSCOPE_DATABASE_URL"] = db_url
    if redis is not None:
        env |= {"SPENDSCOPE_REDIS_URL": redis, "SPENDSCOPE_REDIS_KEY_PREFIX": f"bench-{name}"}
        if not lease:
            env["SPENDSCOPE_RATE_LIMIT_LEASE_REQUESTS"] = "0"
    cli = str(BIN / "spendscope")

    def run(*argv: str) -> str:
        done = subprocess.run([cli, *argv], env=env, check=True, capture_output=True, text=True,
                              cwd=work)  # fmt: skip
        return done.stdout.strip()

    run("db", "upgrade")
    limits = ["--rpm", HIGH, "--tpm", HIGH] if guarded else []
    key = run("keys", "create", "--project", "bench", *limits)
    if guarded:
        run("budgets", "create", "--scope", "global", "--period", "month",
            "--amount-usd", "1000000", "--mode", "hard", "--name", "bench-cap")  # fmt: skip
    server = Server(name, f"http://127.0.0.1:{port}/v1", key)
    server.proc = spawn([cli, "serve"], env, work / f"{name}.log")
    wait_ready(server, 60)
    return server


def pg_schema(pg: str) -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(pg).begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, f"{pg}?options=-csearch_path%3D{schema}"


def drop_schemas(pg: str, schemas: list[str]) -> None:
    engine = create_engine(pg)
    with engine.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def measure(servers: list[Server], concs: list[int], seconds: int, rounds: int) -> dict[
    tuple[str, int], tuple[float, float]
]:  # fmt: skip
    """(server, concurrency) → median (req/s, p50 ms) over interleaved rounds."""
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for server in servers:  # warm-up: tokenizers, pools, the first counter rows
        wrk_cell(server, False, 16, 1)
    for _ in range(rounds):
        for conc in concs:
            for server in servers:
                rps, p50, _p99, _n, errors = wrk_cell(server, False, conc, seconds)
                if errors:
                    print(f"warning: {server.name} c={conc}: {errors:.0f} errors", file=sys.stderr)
                samples.setdefault((server.name, conc), []).append((rps, p50))
    return {k: min(v, key=lambda s: abs(s[0] - statistics.median(x[0] for x in v)))
            for k, v in samples.items()}  # fmt: skip


def start_group(db: str, work: Path, upstream: str, args: argparse.Namespace,
                schemas: list[str]) -> list[Server]:  # fmt: skip
    """The off / on / on+Redis gateways of one database, each on its own file or schema."""
    group = []
    for mode in ("off", "on") + (() if args.no_redis else ("on+Redis-exact", "on+Redis")):
        url = None
        if db == "PostgreSQL":
            schema, url = pg_schema(args.pg)
            schemas.append(schema)
        redis = args.redis if mode.startswith("on+Redis") else None
        group.append(start_gateway(work, upstream, f"{db}-{mode}", url, mode != "off", redis,
                                   lease=mode != "on+Redis-exact"))  # fmt: skip
    return group


def add_rows(table: Table, db: str, results: dict[tuple[str, int], tuple[float, float]],
             concs: list[int]) -> None:  # fmt: skip
    for conc in concs:
        off, on = results[(f"{db}-off", conc)], results[(f"{db}-on", conc)]
        exact = results.get((f"{db}-on+Redis-exact", conc))
        rd = results.get((f"{db}-on+Redis", conc))
        table.add_row(
            db, str(conc), f"{off[0]:,.0f}", f"{on[0]:,.0f}", f"{on[0] / off[0]:.0%}",
            f"{exact[0]:,.0f}" if exact else "-", f"{exact[0] / off[0]:.0%}" if exact else "-",
            f"{rd[0]:,.0f}" if rd else "-", f"{rd[0] / off[0]:.0%}" if rd else "-",
            f"{off[1]:.1f} ms", f"{on[1]:.1f} ms", f"{rd[1]:.1f} ms" if rd else "-",
        )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-redis", action="store_true")
    args = parser.parse_args()
    columns = ("database", "conc", "off req/s", "on req/s", "on/off", "Redis exact req/s",
               "exact/off", "Redis leased req/s", "leased/off", "p50 off", "p50 on",
               "p50 leased")  # fmt: skip
    table = Table(*columns, title="gateway: admission on vs off")
    schemas: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        mock = start_mock(Path(tmp))
        group: list[Server] = []
        try:
            for db in ["SQLite"] + ([] if args.no_pg else ["PostgreSQL"]):
                group = start_group(db, Path(tmp), mock.base_url, args, schemas)
                results = measure(group, args.concurrency, args.seconds, args.rounds)
                add_rows(table, db, results, args.concurrency)
                for server in group:
                    stop(server)
        finally:
            for server in [*group, mock]:
                stop(server)
            if schemas:
                drop_schemas(args.pg, schemas)
    Console(width=200).print(table)


if __name__ == "__main__":
    main()
