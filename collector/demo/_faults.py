"""Upstream faults of past requests: each try, the retries and backoffs between them (pure).

Mirrors what the gateway records live: up to three tries per request, a 429 waits for the
server's ``retry-after``, other faults back off with full jitter; a request whose tries all
failed ends ``upstream_error`` (or ``timeout``, HTTP 504, when the last try timed out) and
consumed nothing. Failures cluster: a retry fails more often than a first try, and two short
incidents (a 5xx storm on gpt-4o, a 429 storm on gpt-4o-mini) burn the error budget visibly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from collector.recorder import AttemptEvent, UsageEvent

MAX_ATTEMPTS = 3
FIRST_TRY_FAILURE = 0.015  # share of first tries that fail (429/5xx/timeout)
RETRY_FAILURE = 0.35  # a retry right after a failure fails more often (faults cluster)
TIMEOUT_MS = 120_000.0  # the gateway's default read timeout
BACKOFF_BASE_MS = 250.0

# (status, error type, message, share of failures); status 0 = the try timed out.
_FAULTS: tuple[tuple[int, str, str, float], ...] = (
    (429, "rate_limit_exceeded", "Rate limit reached for requests. Please try again.", 0.45),
    (500, "server_error", "The server had an error while processing your request.", 0.2),
    (503, "server_error", "The engine is currently overloaded, please try again later.", 0.25),
    (0, "timeout", "TimeoutError: upstream read timed out", 0.1),
)


@dataclass(frozen=True, slots=True)
class Incident:
    """A stretch of time when one model failed far more often, with one kind of fault."""

    start: datetime
    end: datetime
    model: str
    failure: float
    status: int

    def covers(self, at: datetime, model: str | None) -> bool:
        return self.start <= at < self.end and model == self.model


def incidents_before(end: datetime) -> tuple[Incident, ...]:
    """Two incidents at fixed offsets from the end of the history (9 and 2 days before)."""
    day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    first = day - timedelta(days=9) + timedelta(hours=14, minutes=10)
    second = day - timedelta(days=2) + timedelta(hours=16)
    return (
        Incident(first, first + timedelta(minutes=45), "gpt-4o", 0.3, 503),
        Incident(second, second + timedelta(minutes=25), "gpt-4o-mini", 0.25, 429),
    )


def record_attempt(
    event: UsageEvent, status: int, kind: str | None, message: str | None, duration_ms: float
) -> AttemptEvent:
    """Append one try that started where the previous ones (and their waits) left off."""
    attempt = AttemptEvent(
        attempt_no=len(event.attempts) + 1,
        started_at=event.started_at + timedelta(milliseconds=event.duration_ms),
        duration_ms=duration_ms,
        model=event.model_requested,
        upstream=event.upstream,
        http_status=status or None,
        error_type=kind,
        error_message=message,
    )
    event.attempts.append(attempt)
    event.duration_ms += duration_ms
    return attempt


def _fault(rng: random.Random, incident: Incident | None) -> tuple[int, str, str, float]:
    if incident is not None:
        status, kind, message, _ = next(f for f in _FAULTS if f[0] == incident.status)
    else:
        status, kind, message, _ = rng.choices(_FAULTS, weights=[f[3] for f in _FAULTS])[0]
    duration = {429: (30, 120), 500: (300, 1500), 503: (40, 300)}.get(status)
    return status, kind, message, rng.uniform(*duration) if duration else TIMEOUT_MS


def _backoff_ms(rng: random.Random, retry_no: int, status: int) -> float:
    if status == 429:
        return rng.uniform(500, 4000)  # the server's retry-after
    return rng.uniform(0, BACKOFF_BASE_MS * 2 ** (retry_no - 1))


def simulate_attempts(
    rng: random.Random, event: UsageEvent, incidents: Sequence[Incident], model: str
) -> bool:
    """Add failed tries (if any) then a successful one; False when every try failed.

    The successful try is appended with duration 0: the caller knows how long answering took.
    """
    incident = next((i for i in incidents if i.covers(event.started_at, model)), None)
    failure = FIRST_TRY_FAILURE + (incident.failure if incident else 0.0)
    for n in range(1, MAX_ATTEMPTS + 1):
        if rng.random() >= failure:
            record_attempt(event, 200, None, None, 0.0)
            event.http_status = 200
            return True
        status, kind, message, duration = _fault(rng, incident)
        record_attempt(event, status, kind, message, duration)
        if n < MAX_ATTEMPTS:
            event.duration_ms += _backoff_ms(rng, n, status)
        failure = max(failure, RETRY_FAILURE)
    last = event.attempts[-1]
    timed_out = last.error_type == "timeout"
    event.outcome = "timeout" if timed_out else "upstream_error"
    event.http_status = 504 if timed_out else last.http_status
    event.error_type = "upstream_timeout" if timed_out else last.error_type
    event.error_message = (
        "The upstream did not answer in time." if timed_out else last.error_message
    )
    return False
