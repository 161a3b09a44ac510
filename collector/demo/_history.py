"""Past traffic for the demo: realistic ``UsageEvent``s, deterministic for a seed (pure).

Values in, events out — no clock, no database — so a test can replay it exactly. The shape:
hourly Poisson arrivals with a business-hours curve, quieter weekends, ~1 %/day growth and
day-to-day noise; log-normal token counts; prompt-cache hits on long prompts; reasoning tokens
on o-series; streams with time to first token; some Batch API and flex-tier work; retried
upstream faults (429/500/503/timeouts), most rescued, plus two short incidents; a few client
errors, cut streams and cancellations.
Costs come from ``collector.pricing.compute_cost`` at each request's own time, exactly as the
gateway prices live traffic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from collector.demo._faults import Incident, incidents_before, record_attempt, simulate_attempts
from collector.demo._world import SERVED, SPEEDS, Call, KeyProfile
from collector.pricing import compute_cost
from collector.recorder import UsageEvent
from collector.ulid import ulid as _ulid
from collector.usage import Usage

_HOUR = timedelta(hours=1)
# Share of a day's requests per UTC hour (US + EU business hours; mean 1.0).
_DIURNAL = tuple(
    0.25 + 1.6 * math.exp(-(((h - 15) / 4.0) ** 2)) + 0.4 * math.exp(-(((h - 9) / 2.5) ** 2))
    for h in range(24)
)
DIURNAL = tuple(v * 24 / sum(_DIURNAL) for v in _DIURNAL)
WEEKDAY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.4, 0.35)  # Monday first
GROWTH_PER_DAY = 0.01
CLIENT_ERROR_RATE = 0.004
STREAM_CUT_RATE = 0.002
CANCEL_RATE = 0.003
TYPO_MODEL = "gtp-4o-mini"  # a misspelt model name: upstream's 404 model_not_found


@dataclass(frozen=True, slots=True)
class DemoKey:
    """A demo key as created in the database (ids the events point at)."""

    profile: KeyProfile
    api_key_id: int
    project_id: int


def ulid(ms: int, rng: random.Random) -> str:
    """A 26-character ULID from a time and a seeded RNG (``new_request_id``'s shape)."""
    return _ulid(ms, rng.getrandbits(80))


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth below 30, a rounded normal above)."""
    if lam <= 0:
        return 0
    if lam >= 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def lognormal_int(rng: random.Random, median: float, sigma: float, low: int = 1) -> int:
    return max(low, round(median * math.exp(rng.gauss(0.0, sigma))))


def hourly_rate(profile: KeyProfile, hour: datetime, day_index: int, noise: float) -> float:
    """Expected requests of one key in one UTC hour."""
    season = DIURNAL[hour.hour] * WEEKDAY[hour.weekday()]
    return profile.daily_requests / 24 * season * (1 + GROWTH_PER_DAY * day_index) * noise


def generate_history(
    keys: Sequence[DemoKey], *, start: datetime, end: datetime, seed: int
) -> Iterator[UsageEvent]:
    """Events of every key between ``start`` and ``end`` (aware), in time order."""
    rng = random.Random(seed)  # noqa: S311 - fake traffic or text, not a secret
    incidents = incidents_before(end)
    noise: dict[tuple[int, int], float] = {}
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        lo, hi = max(hour, start), min(hour + _HOUR, end)
        day = (hour - start).days
        batch: list[UsageEvent] = []
        for key in keys:
            factor = noise.setdefault((key.api_key_id, day), math.exp(rng.gauss(0, 0.15)))
            lam = hourly_rate(key.profile, hour, day, factor) * ((hi - lo) / _HOUR)
            for _ in range(poisson(rng, lam)):
                at = lo + (hi - lo) * rng.random()
                batch.append(make_event(rng, key, at, incidents))
        batch.sort(key=lambda e: e.started_at)
        yield from batch
        hour += _HOUR


def _pick_call(rng: random.Random, profile: KeyProfile) -> Call:
    return rng.choices(profile.calls, weights=[c.weight for c in profile.calls])[0]


def _usage(rng: random.Random, call: Call) -> Usage:
    prompt = lognormal_int(rng, call.prompt_tokens, 0.55, 8)
    if not call.output_tokens:
        return Usage(prompt_tokens=prompt)
    visible = lognormal_int(rng, call.output_tokens, 0.6)
    reasoning = lognormal_int(rng, call.output_tokens * 1.5, 0.7, 64) if call.reasoning else 0
    cached = 0
    if prompt >= 1024 and rng.random() < call.cached_share:
        cached = max(1024, int(prompt * rng.uniform(0.6, 0.97)) // 128 * 128)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=visible + reasoning,
        cached_tokens=min(cached, prompt),
        reasoning_tokens=reasoning,
    )


def make_event(
    rng: random.Random, key: DemoKey, at: datetime, incidents: Sequence[Incident]
) -> UsageEvent:
    """One request of ``key`` starting at ``at``: attempts, outcome, usage and exact cost."""
    call = _pick_call(rng, key.profile)
    event = UsageEvent(
        id=ulid(int(at.timestamp() * 1000), rng),
        started_at=at,
        duration_ms=0.0,
        endpoint=call.endpoint,
        outcome="success",
        cost_source="computed",  # until priced: a request never answered consumed nothing
        cost_usd=Decimal(0),
        model_requested=call.model,
        stream=call.output_tokens > 0 and rng.random() < call.stream_share and not call.mode,
        project_id=key.project_id,
        api_key_id=key.api_key_id,
        end_user=key.profile.user or (rng.choice(key.profile.users) if key.profile.users else None),
        tags={**key.profile.tags, "feature": call.feature},
        metadata={"demo": "history"},
        upstream="default",
    )
    if rng.random() < CLIENT_ERROR_RATE:
        return _client_error(rng, event)
    _complete(rng, event, call, _usage(rng, call), incidents)
    return event


def _client_error(rng: random.Random, event: UsageEvent) -> UsageEvent:
    """A caller's mistake: answered 4xx by upstream at once, never retried, costs nothing."""
    if rng.random() < 0.6:
        status, kind = 400, "context_length_exceeded"
        message = "This model's maximum context length is 128000 tokens. Please reduce the length."
    else:
        status, kind = 404, "model_not_found"
        event.model_requested = TYPO_MODEL
        message = f"The model `{event.model_requested}` does not exist or you do not have access."
    record_attempt(event, status, kind, message, rng.uniform(40, 160))
    event.outcome, event.http_status = "client_error", status
    event.error_type, event.error_message = kind, message
    return event


def _complete(
    rng: random.Random, event: UsageEvent, call: Call, usage: Usage, incidents: Sequence[Incident]
) -> None:
    """Retried faults first; then the answer (maybe cut or cancelled mid-stream), priced."""
    served = SERVED.get(call.model, call.model)
    answered = simulate_attempts(rng, event, incidents=incidents, model=call.model)
    if not answered:
        return  # every try failed: nothing consumed, $0 computed (as the gateway records it)
    speed = SPEEDS[call.model]
    ttft = lognormal_int(rng, speed.ttft_ms, 0.35, 20)
    gen_ms = usage.completion_tokens / speed.tokens_per_s * 1000 if speed.tokens_per_s else 0.0
    estimated = False
    if event.stream and rng.random() < STREAM_CUT_RATE + CANCEL_RATE:
        usage, estimated = _interrupted(rng, event, usage), True
        gen_ms *= rng.uniform(0.1, 0.6)
    last = event.attempts[-1]
    last.duration_ms = ttft + gen_ms
    event.duration_ms += last.duration_ms
    event.ttft_ms = float(ttft) if event.stream else None
    event.model_served = served
    event.batch = call.mode == "batch"
    event.service_tier = _tier(call)
    event.upstream_request_id = f"req_{rng.getrandbits(128):032x}"
    _price(event, served, usage, estimated)


def _tier(call: Call) -> str | None:
    """The tier that served the request: flex when asked for, none for batch jobs and
    embeddings (their responses carry none), else the default tier."""
    if call.mode == "flex":
        return "flex"
    if call.mode == "batch" or call.endpoint == "/v1/embeddings":
        return None
    return "default"


def _interrupted(rng: random.Random, event: UsageEvent, usage: Usage) -> Usage:
    """A stream that ended early: cut by upstream, or the client went away; tokens estimated."""
    if rng.random() < STREAM_CUT_RATE / (STREAM_CUT_RATE + CANCEL_RATE):
        event.outcome, event.error_type = "upstream_error", "upstream_stream_interrupted"
        event.error_message = "upstream stream interrupted: ClientPayloadError"
    else:
        event.outcome, event.error_type = "cancelled", "client_disconnected"
        event.error_message = "client disconnected mid-request"
    event.attempts[-1].error_type = event.error_type
    event.attempts[-1].error_message = event.error_message
    visible = usage.completion_tokens - usage.reasoning_tokens
    # Counted by the gateway from what was streamed: no cached or reasoning detail.
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=int(visible * rng.uniform(0.1, 0.6)),
    )


def _price(event: UsageEvent, served: str, usage: Usage, estimated: bool) -> None:
    """Cost of the serving model at the request's time, copied onto the last attempt."""
    cost = compute_cost(
        usage, served, event.started_at, batch=event.batch, service_tier=event.service_tier,
        estimated=estimated,
    )  # fmt: skip
    event.prompt_tokens, event.cached_tokens = usage.prompt_tokens, usage.cached_tokens
    event.completion_tokens, event.reasoning_tokens = (
        usage.completion_tokens,
        usage.reasoning_tokens,
    )
    event.cost_usd, event.cost_source, event.price_id = (
        cost.cost_usd,
        cost.cost_source.value,
        cost.price_id,
    )
    last = event.attempts[-1]
    last.prompt_tokens, last.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    last.cost_usd = cost.cost_usd
