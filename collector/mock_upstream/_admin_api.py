"""OpenAI's organization Costs and Usage APIs, answered from the mock's own ledger.

``GET /v1/organization/costs`` and ``GET /v1/organization/usage/{completions,embeddings,…}``
with ``start_time``/``end_time`` (Unix seconds), ``bucket_width=1d``, ``group_by``, ``limit``
(days per page) and ``page`` (the previous page's ``next_page``). Amounts are JSON numbers
with every digit of the exact decimal. Auth is the admin key (``MockConfig.admin_key``, any
bearer when unset); ``MockConfig.admin_faults`` answers the first admin calls, in order, with
``ok``, ``429`` (``retry-after``), ``500``, ``401`` or ``malformed`` JSON, so retries can be tested.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import orjson
from aiohttp import web

from collector.mock_upstream._config import MockConfig
from collector.mock_upstream._ledger import (
    SESSIONS,
    Booked,
    BookKey,
    bypass_booking,
    mock_key_id,
)
from collector.units import MONEY_UNIT

_DEC = re.compile(r'"\\u0000dec:([-0-9.E+]+)"')
_USAGE_GROUPS = ("project_id", "api_key_id", "model", "batch")
# the groupings each Usage API offers, where they are not the completions' (openai-openapi.yaml)
_USAGE_GROUPS_OF = {
    "images": ("project_id", "api_key_id", "model"),
    "audio_speeches": ("project_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "api_key_id", "model"),
    SESSIONS: ("project_id",),
}
_COST_GROUPS = ("project_id", "line_item", "api_key_id")
_ENDPOINTS = ("completions", "embeddings", "moderations", "images", "audio_speeches",
              "audio_transcriptions", "vector_stores", "code_interpreter_sessions")  # fmt: skip
_MAX_PAGE = {"costs": 180, "usage": 31}


def _json(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    def exact(value: Any) -> str:
        if isinstance(value, Decimal):
            return "\u0000dec:" + format(value, "f")
        raise TypeError

    text = _DEC.sub(r"\1", orjson.dumps(payload, default=exact).decode())
    return web.Response(text=text, status=status, content_type="application/json",
                        headers=dict(headers or {}))  # fmt: skip


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _json(body, status, {"retry-after": "0"} if status == 429 else None)


def _denied(request: web.Request, config: MockConfig) -> web.Response | None:
    """401 unless the request carries the admin key (any bearer when none is configured)."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return _error(401, "You didn't provide an API key.")
    if config.admin_key is not None and key.strip() != config.admin_key:
        return _error(401, "Incorrect API key provided.", "invalid_api_key")
    return None


def _fault(config: MockConfig, calls: list[int]) -> web.Response | None:
    """The scripted answer of this admin call (``admin_faults`` in order), or None."""
    calls[0] += 1
    n = calls[0] - 1
    if n >= len(config.admin_faults) or config.admin_faults[n] == "ok":
        return None
    kind = config.admin_faults[n]
    if kind == "429":
        body = {"error": {"message": "Rate limit reached", "type": "requests", "param": None,
                          "code": "rate_limit_exceeded"}}  # fmt: skip
        return _json(body, 429, {"retry-after": str(config.retry_after_s)})
    if kind == "malformed":
        return web.Response(text='{"object": "page", "data": [', content_type="application/json")
    return _error(int(kind), "The server had an error while processing your request.")


def _window(request: web.Request, kind: str) -> tuple[list[date], int]:
    q = request.query
    try:
        start = int(q["start_time"])
        end = int(q.get("end_time", int(time.time()) + 1))  # default: up to now, as OpenAI
        limit = int(q.get("limit", "7"))
    except (KeyError, ValueError):
        raise web.HTTPBadRequest(text="start_time (and end_time, limit) must be integers") from None
    if q.get("bucket_width", "1d") != "1d" or not 1 <= limit <= _MAX_PAGE[kind]:
        raise web.HTTPBadRequest(text="only bucket_width=1d; limit out of range")
    first = datetime.fromtimestamp(start, UTC).date()
    last = datetime.fromtimestamp(end - 1, UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days, limit


def _page(request: web.Request, days: list[date], limit: int) -> tuple[list[date], str | None]:
    raw = request.query.get("page", "page_0")
    found = re.fullmatch(r"page_(\d+)", raw)
    if found is None or int(found[1]) > len(days):
        raise web.HTTPBadRequest(text=f"bad page cursor {raw!r}")
    offset = int(found[1])
    rest = offset + limit
    return days[offset:rest], (f"page_{rest}" if rest < len(days) else None)


def _bill(config: MockConfig, book: Mapping[BookKey, Booked], day: date) -> dict[BookKey, Booked]:
    """The day's bookings as the bill shows them: drift applied, bypass added."""
    if day.isoformat() in config.missing_days:
        return {}
    out = {k: v for k, v in book.items() if k[0] == day}
    if config.bypass_tokens and out:
        key, booked = bypass_booking(day, config.bypass_tokens, config.project_id)
        out[key] = booked
    return out


def _amount(config: MockConfig, model: str, amount: Decimal) -> Decimal:
    drift = config.price_drift
    if drift is not None and model.startswith(drift[0]):
        return (amount * Decimal(drift[1])).quantize(MONEY_UNIT)
    return amount


def _line_item(model: str, part: str) -> str:
    """``"<model>, <part>"`` (``"gpt-4o-mini, input"``); a fee of no model is its part alone
    (``"code interpreter sessions"``)."""
    name = part.removesuffix("_tokens").replace("_", " ")
    return f"{model}, {name}" if model else name


def _groups(request: web.Request, allowed: tuple[str, ...]) -> tuple[str, ...]:
    wanted = request.query.getall("group_by", []) + request.query.getall("group_by[]", [])
    bad = [g for g in wanted if g not in allowed]
    if bad:
        raise web.HTTPBadRequest(text=f"unsupported group_by {bad}")
    return tuple(wanted)


def _cost_results(
    config: MockConfig, bill: Mapping[BookKey, Booked], groups: Iterable[str]
) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    wanted = set(groups)
    for (_, _, model, key_id, project, _), booked in bill.items():
        for part, amount in booked.lines.items():
            full = {
                "project_id": project,
                "line_item": _line_item(model, part),
                "api_key_id": key_id,
            }
            sums[tuple(full[g] if g in wanted else None for g in _COST_GROUPS)] += _amount(
                config, model, amount
            )
    return [
        {"object": "organization.costs.result", "amount": {"value": value, "currency": "usd"},
         **dict(zip(_COST_GROUPS, key, strict=True)), "quantity": None, "quantity_unit": None}
        for key, value in sorted(sums.items(), key=lambda kv: str(kv[0]))
    ]  # fmt: skip


def _usage_counts(endpoint: str, b: Booked) -> dict[str, Any]:
    """The counts of one booking as ``endpoint``'s Usage API reports them."""
    if endpoint == "images":
        return {"images": b.images, "num_model_requests": b.requests}
    if endpoint == "audio_speeches":
        return {"characters": b.characters, "num_model_requests": b.requests}
    if endpoint == "audio_transcriptions":
        return {"seconds": b.seconds, "num_model_requests": b.requests}
    if endpoint == SESSIONS:
        return {"num_sessions": b.sessions}
    return {
        "input_tokens": b.input_tokens, "input_cached_tokens": b.input_cached_tokens,
        "output_tokens": b.output_tokens, "input_audio_tokens": 0, "output_audio_tokens": 0,
        "num_model_requests": b.requests,
    }  # fmt: skip


def _usage_results(
    endpoint: str, bill: Mapping[BookKey, Booked], groups: Iterable[str]
) -> list[dict[str, Any]]:
    sums: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    allowed = _USAGE_GROUPS_OF.get(endpoint, _USAGE_GROUPS)
    wanted = set(groups) & set(allowed)
    for (_, kind, model, key_id, project, batch), b in bill.items():
        if kind != endpoint:
            continue
        full = {"project_id": project, "api_key_id": key_id, "model": model, "batch": batch}
        sums[tuple(full[g] if g in wanted else None for g in allowed)].update(
            _usage_counts(endpoint, b)
        )
    out = []
    for key, counts in sorted(sums.items(), key=lambda kv: str(kv[0])):
        fields = {**{name: 0 for name in _usage_counts(endpoint, Booked())}, **counts}
        if "seconds" in fields:  # whole seconds, as OpenAI's integer field
            fields["seconds"] = int(Decimal(fields["seconds"]).to_integral_value(ROUND_CEILING))
        grouped = dict(zip(allowed, key, strict=True))
        users = {} if endpoint == SESSIONS else {"user_id": None}  # sessions have no user_id
        out.append({"object": f"organization.usage.{endpoint}.result", **fields, **users,
                    **grouped})  # fmt: skip
    return out


async def book_history(request: web.Request) -> web.Response:
    """``POST /_mock/ledger``: book traffic served before this mock started (the demo's
    backfilled history), so the bill covers it as if the mock had served it. Body:
    ``{"bookings": [{"day", "model", "api_key", "batch", "input_tokens",
    "input_cached_tokens", "output_tokens", "requests", "usd"}]}``."""
    from collector.mock_upstream._http import STATE

    state = request.app[STATE]
    denied = _denied(request, state.config)
    if denied is not None:
        return denied
    try:
        body = orjson.loads(await request.read())
        rows = [
            ((date.fromisoformat(b["day"]), "completions", str(b["model"]),
              mock_key_id(str(b["api_key"])), state.config.project_id, bool(b["batch"])),
             (int(b["input_tokens"]), int(b["input_cached_tokens"]), int(b["output_tokens"])),
             int(b["requests"]), Decimal(str(b["usd"])))
            for b in body["bookings"]
        ]  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError):
        return _error(400, "bookings must be a list of day/model/api_key/batch/counts/usd")
    for key, tokens, requests, usd in rows:
        state.ledger.add_served(key, tokens, requests, usd)
    return _json({"booked": len(rows)})


async def costs(request: web.Request) -> web.Response:
    return _serve(request, "costs")


async def usage(request: web.Request) -> web.Response:
    if request.match_info["endpoint"] not in _ENDPOINTS:
        return _error(404, f"Invalid URL (GET {request.path})")
    return _serve(request, "usage")


def _serve(request: web.Request, kind: str) -> web.Response:
    from collector.mock_upstream._http import STATE

    state = request.app[STATE]
    config = state.config
    fault = _denied(request, config)
    if fault is None:
        fault = _fault(config, state.admin_calls)
    if fault is not None:
        return fault
    days, limit = _window(request, kind)
    shown, cursor = _page(request, days, limit)
    endpoint = request.match_info.get("endpoint", "")
    groups = _groups(
        request, _COST_GROUPS if kind == "costs" else _USAGE_GROUPS_OF.get(endpoint, _USAGE_GROUPS)
    )
    buckets = []
    for day in shown:
        bill = _bill(config, state.ledger.book, day)
        results = (
            _cost_results(config, bill, groups) if kind == "costs"
            else _usage_results(request.match_info["endpoint"], bill, groups)
        )  # fmt: skip
        start = int(datetime.combine(day, datetime.min.time(), tzinfo=UTC).timestamp())
        buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400,
                        "results": results})  # fmt: skip
    page = {"object": "page", "data": buckets, "has_more": cursor is not None, "next_page": cursor}
    return _json(page)
