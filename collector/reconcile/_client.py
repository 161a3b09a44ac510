"""OpenAI's organization Costs and Usage APIs, read page by page with retries.

Talks to ``openai_admin_base_url`` directly with the admin key (the gateway refuses to
forward ``/v1/organization/…``). Retries 429, 5xx and connection errors with exponential
backoff and full jitter, honouring ``Retry-After``; anything else — a refused key, a bad
request, a body that is not the documented JSON — is a :class:`ReconcileError` of one line.
Amounts are parsed as ``Decimal`` straight from the JSON text (never through float).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from collector.errors import ReconcileError
from collector.reconcile._types import COSTS, BillItem
from collector.secrets import redact

if TYPE_CHECKING:  # httpx (with rich and pygments for its CLI) is loaded only by a client:
    import httpx  # the gateway imports this package for its types and never pays ~6 MB for it

# Usage endpoints read, with the groupings each supports (openai-openapi.yaml).
USAGE_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "completions": ("project_id", "api_key_id", "model", "batch"),
    "embeddings": ("project_id", "api_key_id", "model"),
    "moderations": ("project_id", "api_key_id", "model"),
    "images": ("project_id", "api_key_id", "model"),
    "audio_speeches": ("project_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "api_key_id", "model"),
    "code_interpreter_sessions": ("project_id",),
}
# Line items of a fee that names no model (``model_of`` gives ""): a code interpreter container
# created through /v1/containers, which spendscope records under no model either.
MODELLESS_ITEMS = frozenset({"code interpreter sessions"})
COST_GROUPS = ("project_id", "line_item", "api_key_id")
_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_MAX_WAIT_S = 60.0
_COUNTS = {
    "input_tokens": "input_tokens",
    "input_cached_tokens": "input_cached_tokens",
    "output_tokens": "output_tokens",
    "input_audio_tokens": "input_audio_tokens",
    "output_audio_tokens": "output_audio_tokens",
    "num_model_requests": "requests",
    "images": "images",
    "seconds": "seconds",
    "characters": "characters",
    "num_sessions": "requests",  # code interpreter sessions: one billed session a request
}


def unix_day(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class AdminClient:
    """A small synchronous client of the admin APIs (one per reconciliation)."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        page_days: int = 7,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx

        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {admin_key}"},
            timeout=timeout_s,
        )
        self._attempts, self._backoff, self._cap = max_attempts, backoff_s, max_backoff_s
        self.page_days = page_days
        self._sleep = sleep
        self.tries = 0  # every HTTP try, retries included (tests and the CLI's summary)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of a paginated result, following ``next_page``."""
        query = dict(params)
        seen: set[str] = set()
        while True:
            page = self._get(path, query)
            yield page
            cursor = page.get("next_page")
            if not page.get("has_more") or not cursor:
                return
            if not isinstance(cursor, str) or cursor in seen:
                raise ReconcileError(f"OpenAI's {path} API returned a bad next_page cursor")
            seen.add(cursor)
            query["page"] = cursor

    def _get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        import httpx

        for attempt in range(1, self._attempts + 1):
            self.tries += 1
            try:
                response = self._http.get(path, params=params)
            except httpx.HTTPError as exc:
                if attempt == self._attempts:
                    raise ReconcileError(
                        f"OpenAI's {path} API is unreachable after {attempt} tries: "
                        f"{redact(exc.__class__.__name__ + ' ' + str(exc))}"
                    ) from None
                self._sleep(self._wait(attempt, None))
                continue
            if response.status_code in _RETRY_STATUS and attempt < self._attempts:
                self._sleep(self._wait(attempt, response.headers))
                continue
            return _body(path, response)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _wait(self, attempt: int, headers: httpx.Headers | None) -> float:
        hinted = _retry_after(headers) if headers is not None else None
        if hinted is not None:
            return min(hinted, _MAX_WAIT_S)
        return random.uniform(0, min(self._cap, self._backoff * 2 ** (attempt - 1)))  # noqa: S311 - jitter, not security


def _retry_after(headers: httpx.Headers) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


def _body(path: str, response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if status != 200:
        detail = _error_message(response)
        if status in (401, 403):
            raise ReconcileError(
                f"OpenAI refused the admin key (HTTP {status}) on {path}: {detail} "
                "(check SPENDSCOPE_OPENAI_ADMIN_KEY: an organization admin key is needed)"
            )
        raise ReconcileError(f"OpenAI's {path} API failed with HTTP {status}: {detail}")
    try:
        page = json.loads(response.text, parse_float=Decimal)
    except ValueError:
        raise ReconcileError(f"OpenAI's {path} API answered malformed JSON") from None
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise ReconcileError(f"OpenAI's {path} API answered JSON without a 'data' list")
    return page


def _error_message(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason_phrase
    return redact(" ".join(str(message).split()))


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReconcileError(f"malformed {where}: expected a string or null, got {value!r}")
    return value


def _count(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReconcileError(f"malformed {where}: expected a count, got {value!r}")
    return int(value)


def _buckets(path: str, page: Mapping[str, Any]) -> Iterator[tuple[date, dict[str, Any]]]:
    for bucket in page["data"]:
        start = bucket.get("start_time") if isinstance(bucket, dict) else None
        results = bucket.get("results") if isinstance(bucket, dict) else None
        if isinstance(start, bool) or not isinstance(start, int) or not isinstance(results, list):
            raise ReconcileError(f"malformed bucket from {path}: {str(bucket)[:120]}")
        day = datetime.fromtimestamp(start, UTC).date()
        for result in results:
            if not isinstance(result, dict):
                raise ReconcileError(f"malformed result from {path}: {str(result)[:120]}")
            yield day, result


def model_of(line_item: str) -> str:
    """The model a Costs line item names (``"gpt-4o-2024-08-06, input"`` → the model; ""
    for a fee of no model)."""
    if line_item.strip().lower() in MODELLESS_ITEMS:
        return ""
    return line_item.split(", ", 1)[0].strip()


def cost_item(day: date, result: Mapping[str, Any]) -> BillItem:
    amount = result.get("amount")
    value = amount.get("value") if isinstance(amount, dict) else None
    currency = amount.get("currency", "usd") if isinstance(amount, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | Decimal) or currency != "usd":
        raise ReconcileError(f"malformed costs result (amount): {str(result)[:160]}")
    line = _text(result.get("line_item"), "costs line_item")
    return BillItem(
        day=day, source=COSTS, line_item=line, model=model_of(line),
        project_id=_text(result.get("project_id"), "costs project_id"),
        api_key_id=_text(result.get("api_key_id"), "costs api_key_id"),
        batch="batch" in line.lower(), billed_usd=Decimal(value),
    )  # fmt: skip


def usage_item(day: date, endpoint: str, result: Mapping[str, Any]) -> BillItem:
    counts = dict.fromkeys(_COUNTS.values(), 0)
    for wire, field in _COUNTS.items():
        counts[field] += _count(result.get(wire), f"{endpoint} {wire}")
    return BillItem(
        day=day, source=endpoint, line_item=endpoint,
        model=_text(result.get("model"), f"{endpoint} model"),
        project_id=_text(result.get("project_id"), f"{endpoint} project_id"),
        api_key_id=_text(result.get("api_key_id"), f"{endpoint} api_key_id"),
        batch=result.get("batch") is True, input_tokens=counts["input_tokens"],
        input_cached_tokens=counts["input_cached_tokens"], output_tokens=counts["output_tokens"],
        input_audio_tokens=counts["input_audio_tokens"],
        output_audio_tokens=counts["output_audio_tokens"], requests=counts["requests"],
        images=counts["images"], seconds=counts["seconds"], characters=counts["characters"],
    )  # fmt: skip


def fetch_bill(
    client: AdminClient, start: date, end: date, endpoints: Sequence[str] = tuple(USAGE_ENDPOINTS)
) -> list[BillItem]:
    """Every cost and usage line of ``start``..``end`` (UTC days, both included)."""
    window = {
        "start_time": unix_day(start),
        "end_time": unix_day(end + timedelta(days=1)),
        "bucket_width": "1d",
        "limit": client.page_days,
    }
    items: list[BillItem] = []
    for page in client.pages("/organization/costs", {**window, "group_by": list(COST_GROUPS)}):
        items += [cost_item(day, r) for day, r in _buckets("/organization/costs", page)]
    for endpoint in endpoints:
        path = f"/organization/usage/{endpoint}"
        groups = {"group_by": list(USAGE_ENDPOINTS[endpoint])}
        for page in client.pages(path, {**window, **groups}):
            items += [usage_item(day, endpoint, r) for day, r in _buckets(path, page)]
    return [i for i in items if start <= i.day <= end]
