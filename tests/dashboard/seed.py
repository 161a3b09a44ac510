"""A realistic, deterministic week of traffic written through ``write_batch`` (the only writer).

Used by the callback tests, the browser tests and the first-paint measurement. Everything is
relative to ``NOW`` so the dashboard's default "last 7 days" shows it all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from collector.analytics import metered_lines
from collector.batches import register as register_job
from collector.db import AlertEvent, AlertRule, ApiKey, Budget, Project, session_scope
from collector.reconcile import BillItem, days_of, replace_days
from collector.recorder import AttemptEvent, UsageEvent, new_request_id, write_batch

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
# (input, output) USD per 1M tokens; None: no price known (unpriced).
PRICES: dict[str, tuple[Decimal, Decimal] | None] = {
    "gpt-4o-mini-2024-07-18": (Decimal("0.15"), Decimal("0.60")),
    "gpt-4o-2024-08-06": (Decimal("2.50"), Decimal("10.00")),
    "o3-mini-2025-01-31": (Decimal("1.10"), Decimal("4.40")),
    "acme-finetune-v2": None,
}
MODEL_WEIGHTS = (70, 18, 9, 3)
UNPRICED_MODEL = "acme-finetune-v2"
_UNIT = Decimal("1E-10")


@dataclass(frozen=True, slots=True)
class Seeded:
    """Ids and counts a test can assert on."""

    project_ids: dict[str, int]
    key_ids: dict[str, int]
    events: list[UsageEvent]


def _cost(model: str, prompt: int, completion: int) -> Decimal | None:
    price = PRICES[model]
    if price is None:
        return None
    return ((prompt * price[0] + completion * price[1]) / 1_000_000).quantize(_UNIT)


def _projects(engine: Engine) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Three projects and four keys; key name → (key id, project id)."""
    specs = {
        "checkout": ["checkout-prod"],
        "search": ["search-prod", "search-staging"],
        "tools": ["tools-dev"],
    }
    pids: dict[str, int] = {}
    keys: dict[str, tuple[int, int]] = {}
    with session_scope(engine) as session:
        for i, (name, key_names) in enumerate(specs.items()):
            project = Project(name=name, created_at=NOW - timedelta(days=60))
            if name == "search":
                project.slo_target = Decimal("0.99")
            session.add(project)
            session.flush()
            pids[name] = project.id
            for j, key_name in enumerate(key_names):
                key = ApiKey(
                    project_id=project.id, key_hash=f"{i:02d}{j:02d}".ljust(64, "0"),
                    prefix=f"sk-ss-{key_name[:4]}", name=key_name, tags={}, created_at=NOW,
                )  # fmt: skip
                session.add(key)
                session.flush()
                keys[key_name] = (key.id, project.id)
    return pids, keys


def _budgets(engine: Engine, project_ids: dict[str, int]) -> None:
    rows = [
        ("Company monthly", "global", None, "month", Decimal("40"), "soft"),
        ("Checkout daily", "project", str(project_ids["checkout"]), "day", Decimal("1.50"), "hard"),
        ("Search monthly", "project", str(project_ids["search"]), "month", Decimal("6"), "soft"),
    ]
    with session_scope(engine) as session:
        for name, kind, value, period, amount, mode in rows:
            session.add(
                Budget(
                    name=name,
                    scope_kind=kind,
                    scope_value=value,
                    period=period,
                    amount_usd=amount,
                    mode=mode,
                    thresholds={},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )


ALERTS = 3  # events written by _alerts, newest first: burn (firing), budget 100 %, budget 80 %


def _alerts(engine: Engine, project_ids: dict[str, int]) -> None:
    """Two rules and three events as the evaluator would have stored them."""
    checkout = project_ids["checkout"]
    ok = {"ok": True, "attempts": 1, "detail": "HTTP 200"}
    failed = {"ok": False, "attempts": 3, "detail": "HTTP 503 after 3 attempts"}
    day = NOW.replace(hour=0, minute=0).isoformat()
    with session_scope(engine) as session:
        rules = [
            AlertRule(name="Checkout daily budget", kind="budget_threshold", scope_kind="project",
                      scope_value=str(checkout), params={}, channels={}, enabled=True,
                      created_at=NOW - timedelta(days=30)),
            AlertRule(name="Fast error-budget burn", kind="slo_burn_rate", scope_kind="global",
                      scope_value=None, params={}, channels={}, enabled=True,
                      created_at=NOW - timedelta(days=30)),
        ]  # fmt: skip
        session.add_all(rules)
        session.flush()
        budget, burn = rules[0].id, rules[1].id
        scope = f"project:{checkout}"
        session.add_all([
            AlertEvent(rule_id=budget, dedup_key=f"{budget}|{scope}|Checkout daily|{day}|80",
                       state="firing", fired_at=NOW - timedelta(hours=5),
                       message="Budget 'Checkout daily' crossed 80%: $1.21 of $1.50 spent.",
                       payload={"kind": "budget_threshold"},
                       deliveries={"fire": {"slack": ok}}),
            AlertEvent(rule_id=budget, dedup_key=f"{budget}|{scope}|Checkout daily|{day}|100",
                       state="firing", fired_at=NOW - timedelta(hours=2),
                       message="Budget 'Checkout daily' crossed 100%: $1.52 of $1.50 spent.",
                       payload={"kind": "budget_threshold"},
                       deliveries={"fire": {"slack": ok, "webhook": failed}}),
            AlertEvent(rule_id=burn, dedup_key=f"{burn}|global|1h/5m|14.4|resolved@x#3",
                       state="resolved", fired_at=NOW - timedelta(minutes=50),
                       resolved_at=NOW - timedelta(minutes=20),
                       message="Error budget of global burning at 15.2× over 1h and 18.0× over 5m.",
                       payload={"kind": "slo_burn_rate"},
                       deliveries={"fire": {"slack": ok}, "resolve": {"slack": ok}}),
        ])  # fmt: skip


def _outcome(rng: random.Random) -> tuple[str, int, str | None]:
    roll = rng.random()
    if roll < 0.962:
        return "success", 200, None
    if roll < 0.984:
        return "client_error", 400, "invalid_request_error"
    if roll < 0.9875:
        return "upstream_error", rng.choice((500, 503, 429)), "server_error"
    if roll < 0.989:
        return "timeout", 504, "timeout"
    if roll < 0.995:
        return "blocked", 429, "budget_exceeded"
    return "cancelled", 499, "client_closed_request"


def _attempts(
    rng: random.Random, started: datetime, model: str, outcome: str, status: int, duration: float
) -> list[AttemptEvent]:
    """Retries: some successes needed 2–3 tries; upstream errors and timeouts used 3."""
    tries = 3 if outcome in ("upstream_error", "timeout") else 1
    if outcome == "success" and rng.random() < 0.07:
        tries = rng.choice((2, 2, 3))
    out = []
    for n in range(1, tries + 1):
        last = n == tries
        failed = not last or outcome != "success"
        out.append(
            AttemptEvent(
                attempt_no=n,
                started_at=started + timedelta(milliseconds=(duration / tries + 250) * (n - 1)),
                duration_ms=duration / tries,  # each retry waits 250 ms after the last try
                model=model,
                upstream="openai",
                http_status=(rng.choice((429, 503)) if not last else status) if failed else 200,
                error_type=("rate_limit_exceeded" if not last else "server_error")
                if failed
                else None,
                error_message="upstream said no" if failed else None,
            )
        )
    return out


def _event(rng: random.Random, keys: dict[str, tuple[int, int]], days: int) -> UsageEvent:
    users = ("alice", "bob", "carol", None)
    started = NOW - timedelta(seconds=rng.uniform(60, days * 86400 - 60))
    model = rng.choices(list(PRICES), MODEL_WEIGHTS)[0]
    key_name = rng.choice(list(keys))
    outcome, status, error = _outcome(rng)
    prompt, completion = rng.randint(200, 4000), rng.randint(20, 900)
    if outcome != "success":
        completion = 0
    stream = rng.random() < 0.4
    duration = rng.lognormvariate(6.6, 0.6) + completion * 8
    priced = PRICES[model] is not None
    return UsageEvent(
        id=new_request_id(), started_at=started, duration_ms=duration,
        endpoint="/v1/chat/completions", outcome=outcome,
        cost_source="computed" if priced else "unpriced",
        ttft_ms=duration * rng.uniform(0.05, 0.3) if stream else None,
        model_requested=model.rsplit("-2", 1)[0], model_served=model, stream=stream,
        project_id=keys[key_name][1], api_key_id=keys[key_name][0], end_user=rng.choice(users),
        tags={"team": key_name.split("-")[0], "env": key_name.split("-")[1]},
        http_status=status, error_type=error, error_message="upstream said no" if error else None,
        prompt_tokens=prompt, cached_tokens=rng.choice((0, 0, prompt // 2)),
        completion_tokens=completion,
        cost_usd=_cost(model, prompt, completion) if outcome == "success" else None,
        attempts=_attempts(rng, started, model, outcome, status, duration),
    )  # fmt: skip


def make_events(
    keys: dict[str, tuple[int, int]], *, count: int, days: int = 7, seed: int = 7
) -> list[UsageEvent]:
    """``count`` requests spread over the ``days`` before ``NOW``, reproducibly."""
    rng = random.Random(seed)
    events = [_event(rng, keys, days) for _ in range(count)]
    side = random.Random(seed + 1)  # its own stream: the events above stay as they were
    for event in events:
        eligible = event.outcome == "success" and not event.stream and event.cost_usd is not None
        if eligible and side.random() < 0.08:
            _as_batch(event)
    return events


def _as_batch(event: UsageEvent) -> None:
    """A Batch API request: billed at half the standard input and output rates."""
    assert event.model_served is not None
    price = PRICES[event.model_served]
    assert price is not None
    event.batch = True
    units = event.prompt_tokens * price[0] + event.completion_tokens * price[1]
    event.cost_usd = (units / 2 / 1_000_000).quantize(_UNIT)


GATEWAY_KEY_ID, BYPASS_KEY_ID, DRIFT_MODEL = "key_gateway", "key_bypass", "gpt-4o-2024-08-06"


def _bill(engine: Engine) -> None:
    """OpenAI's bill for the week: what was metered, with gpt-4o billed 20 % higher on the
    last day and $1.25 a day on a key the gateway never used (the page's planted findings)."""
    first, last = (NOW - timedelta(days=7)).date(), NOW.date()
    items = []
    for m in metered_lines(engine, first, last):
        usd = m.cost_usd * Decimal("1.2") if (m.model, m.day) == (DRIFT_MODEL, last) else m.cost_usd
        ours = ("proj_seed", GATEWAY_KEY_ID)
        items += [
            BillItem(m.day, "costs", f"{m.model}, input", m.model, *ours, billed_usd=usd),
            BillItem(m.day, "completions", "completions", m.model, *ours,
                     input_tokens=m.tokens.input, input_cached_tokens=m.tokens.cached,
                     output_tokens=m.tokens.output, requests=m.requests),
        ]  # fmt: skip
    for day in (last - timedelta(days=1), last):
        items.append(BillItem(day, "costs", "gpt-4o-mini-2024-07-18, input", "gpt-4o-mini",
                              "proj_seed", BYPASS_KEY_ID, billed_usd=Decimal("1.25")))  # fmt: skip
    replace_days(engine, days_of(first, last), items, NOW)


def _batch_job(engine: Engine, project_ids: dict[str, int]) -> None:
    """One open Batch API job (no lines recorded yet: the request totals stay as they are)."""
    wire = {"id": "batch_seed", "endpoint": "/v1/chat/completions", "status": "in_progress",
            "request_counts": {"total": 500, "completed": 120, "failed": 0}}  # fmt: skip
    register_job(engine, wire, upstream="default", project_id=project_ids["search"],
                 api_key_id=None, end_user=None, tags={}, now=NOW - timedelta(hours=1))  # fmt: skip


def seed(engine: Engine, *, count: int = 1200, batch: int = 1000) -> Seeded:
    """Projects, keys, budgets and ``count`` requests (via ``write_batch``)."""
    project_ids, keys = _projects(engine)
    _budgets(engine, project_ids)
    _alerts(engine, project_ids)
    _batch_job(engine, project_ids)
    events = make_events(keys, count=count)
    for i in range(0, len(events), batch):
        write_batch(engine, events[i : i + batch])
    _bill(engine)
    return Seeded(project_ids, {name: kid for name, (kid, _) in keys.items()}, events)
