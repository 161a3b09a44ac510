"""``/api/keys``, ``/api/budgets``, ``/api/alerts``: the CLI's admin commands over HTTP.

Thin on purpose: each route parses its input, calls the domain package (``collector.keys``,
``collector.budgets``, ``collector.alerts``) and shapes the answer like the CLI's ``--json``.
Routes are sync ``def`` so their database work runs in FastAPI's threadpool. Reads need any
token, writes the admin token (see ``_auth``). Errors are OpenAI-shaped, drawn here once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from collector.alerts import (
    AlertConfigError,
    add_rule,
    delete_rule,
    list_events,
    load_rules,
    parse_channel,
)
from collector.budgets import (
    DEFAULT_THRESHOLDS,
    BudgetConfigError,
    BudgetSpec,
    BudgetStatus,
    Mode,
    budget_statuses,
    create_budget,
    delete_budget,
    load_budgets,
    parse_amount,
    parse_period,
    parse_scope,
    parse_timezone,
    update_budget,
)
from collector.db import session_scope
from collector.errors import GatewayError, NotFound, SettingsError
from collector.gateway._auth import AdminDep, ViewerDep
from collector.keys import MAX_LIMIT, KeyInfo, create_key, list_keys, revoke_key
from collector.settings import Settings
from collector.units import MONEY_UNIT


def engine_of(request: Request) -> Engine:
    """The gateway's own engine (the recorder's), opened by the lifespan."""
    engine: Engine = request.app.state.runtime.recorder.engine
    return engine


def _settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.runtime.settings
    return settings


EngineDep = Annotated[Engine, Depends(engine_of)]
SettingsDep = Annotated[Settings, Depends(_settings_of)]
router = APIRouter(prefix="/api")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- keys ------------------------------------------------------------------------------------
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Per minute; 1..2147483647.")]


class KeyCreate(_Body):
    project: str
    user: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    rpm: Limit | None = None
    tpm: Limit | None = None
    name: str | None = None


def _key_json(key: KeyInfo) -> dict[str, Any]:
    return {
        "id": key.id, "prefix": key.prefix, "project": key.project, "name": key.name,
        "user": key.end_user, "tags": dict(key.tags), "rpm": key.rpm, "tpm": key.tpm,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }  # fmt: skip


@router.get("/keys")
def keys_list(_: ViewerDep, engine: EngineDep, project: str | None = None) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return [_key_json(k) for k in list_keys(session, project=project)]


@router.post("/keys", status_code=201)
def keys_create(_: AdminDep, engine: EngineDep, body: KeyCreate) -> dict[str, Any]:
    """The raw key is in this answer only; the database keeps its hash."""
    with session_scope(engine) as session:
        created = create_key(
            session, project=body.project, user=body.user, tags=body.tags, rpm=body.rpm,
            tpm=body.tpm, name=body.name, now=datetime.now(UTC),
        )  # fmt: skip
    return {"key": created.raw_key, "id": created.id, "prefix": created.prefix,
            "project": body.project.strip()}  # fmt: skip


@router.delete("/keys/{prefix_or_id}")
def keys_revoke(
    _: AdminDep, engine: EngineDep, request: Request, prefix_or_id: str
) -> dict[str, Any]:
    """Refused at once by this gateway; by the others when their key-cache entry expires
    (``SPENDSCOPE_KEY_CACHE_TTL_S``, 30 s by default)."""
    with session_scope(engine) as session:
        revoked = revoke_key(session, prefix_or_id, datetime.now(UTC))
    request.app.state.runtime.forget_key(revoked.id)
    return _key_json(revoked)


# --- budgets ---------------------------------------------------------------------------------
Amount = Annotated[Decimal | str, Field(union_mode="left_to_right")]
Thresholds = Annotated[list[int], Field(min_length=1)]


class BudgetCreate(_Body):
    scope: str
    period: str
    amount_usd: Amount
    mode: Literal["soft", "hard"] = "soft"
    thresholds: Thresholds | None = None
    name: str | None = None


class BudgetUpdate(_Body):
    amount_usd: Amount | None = None
    mode: Literal["soft", "hard"] | None = None
    thresholds: Thresholds | None = None
    name: str | None = Field(None, description="A new name.")


def _usd(amount: Decimal) -> str:
    """Money as the CLI prints it: plain decimal, 10 places (the column's scale)."""
    return format(amount.quantize(MONEY_UNIT), "f")


def _status_json(status: BudgetStatus, settings: Settings) -> dict[str, Any]:
    """The fields of ``spendscope budgets list --json``."""
    b = status.budget
    return {
        "name": b.name, "scope": str(b.scope), "period": str(b.period), "mode": b.mode.value,
        "amount_usd": _usd(b.amount_usd), "spent_usd": _usd(status.spent_usd),
        "reserved_usd": _usd(status.reserved_usd), "remaining_usd": _usd(status.remaining_usd),
        "percent": str(status.percent), "thresholds": list(b.thresholds),
        "crossed": list(status.crossed), "forecast_usd": _usd(status.forecast.projected_usd),
        "resets_at": status.window.end.astimezone(parse_timezone(settings.timezone)).isoformat(),
    }  # fmt: skip


def _statuses(engine: Engine, settings: Settings, specs: list[BudgetSpec] | None) -> list[Any]:
    tz = parse_timezone(settings.timezone)
    return [
        _status_json(s, settings)
        for s in budget_statuses(engine, datetime.now(UTC), tz, budgets=specs)
    ]


@router.get("/budgets")
def budgets_list(_: ViewerDep, engine: EngineDep, settings: SettingsDep) -> list[Any]:
    """Every budget with spent, reserved, remaining and forecast for its current period."""
    return _statuses(engine, settings, None)


@router.post("/budgets", status_code=201)
def budgets_create(
    _: AdminDep, engine: EngineDep, settings: SettingsDep, body: BudgetCreate
) -> dict[str, Any]:
    spec = BudgetSpec(
        name=body.name or f"{body.scope} {body.period} {body.mode}",
        scope=parse_scope(body.scope),
        period=parse_period(body.period),
        amount_usd=parse_amount(str(body.amount_usd)),
        mode=Mode(body.mode),
        thresholds=tuple(body.thresholds) if body.thresholds else DEFAULT_THRESHOLDS,
    )
    saved = create_budget(engine, spec, datetime.now(UTC))
    return dict(_statuses(engine, settings, [saved])[0])


@router.patch("/budgets/{name}")
def budgets_update(
    _: AdminDep, engine: EngineDep, settings: SettingsDep, name: str, body: BudgetUpdate
) -> dict[str, Any]:
    if not any(b.name == name for b in load_budgets(engine)):
        raise NotFound(f"no budget named {name!r}", param="name")
    spec = update_budget(
        engine, name, datetime.now(UTC),
        amount_usd=None if body.amount_usd is None else parse_amount(str(body.amount_usd)),
        mode=None if body.mode is None else Mode(body.mode),
        thresholds=None if body.thresholds is None else tuple(body.thresholds),
        new_name=body.name,
    )  # fmt: skip
    saved = [b for b in load_budgets(engine) if b.name == spec.name]
    return dict(_statuses(engine, settings, saved)[0])


@router.delete("/budgets/{name}")
def budgets_delete(_: AdminDep, engine: EngineDep, name: str) -> dict[str, str]:
    """Its counters and open holds go with it."""
    if not delete_budget(engine, name):
        raise NotFound(f"no budget named {name!r}", param="name")
    return {"deleted": name}


# --- alerts ----------------------------------------------------------------------------------
class ChannelIn(_Body):
    kind: str = Field(description="slack | webhook | email | file")
    target: str


class RuleCreate(_Body):
    name: str = Field(min_length=1)
    kind: str
    scope: str = "global"
    params: dict[str, Any] = Field(default_factory=dict)
    channels: list[ChannelIn] = Field(min_length=1)


@router.get("/alerts/rules")
def rules_list(_: ViewerDep, engine: EngineDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "kind": r.kind.value, "scope": str(r.scope), "params": dict(r.params),
         "channels": [c.label for c in r.channels]}
        for r in load_rules(engine, settings, enabled_only=False)
    ]  # fmt: skip


@router.post("/alerts/rules", status_code=201)
def rules_add(
    _: AdminDep, engine: EngineDep, settings: SettingsDep, body: RuleCreate
) -> dict[str, Any]:
    """Channels and parameters are checked now, not when the rule fires."""
    channels = tuple(parse_channel(c.kind, c.target, settings) for c in body.channels)
    rule_id = add_rule(
        engine, body.name, body.kind, body.scope, body.params, channels, datetime.now(UTC)
    )
    return {"id": rule_id, "name": body.name, "channels": [c.label for c in channels]}


@router.delete("/alerts/rules/{name}")
def rules_delete(_: AdminDep, engine: EngineDep, name: str) -> dict[str, str]:
    """Its alert history goes with it."""
    if not delete_rule(engine, name):
        raise NotFound(f"no alert rule named {name!r}", param="name")
    return {"deleted": name}


@router.get("/alerts/events")
def alert_events(
    _: ViewerDep, engine: EngineDep, limit: Annotated[int, Query(ge=1, le=10000)] = 100
) -> list[dict[str, Any]]:
    """Alert history, newest first, with per-channel delivery results."""
    return [
        {"id": e.id, "state": e.state, "fired_at": e.fired_at.isoformat(),
         "resolved_at": e.resolved_at.isoformat() if e.resolved_at else None,
         "dedup_key": e.dedup_key, "message": e.message, "deliveries": e.deliveries}
        for e in list_events(engine, limit)
    ]  # fmt: skip


# --- upstream keys ---------------------------------------------------------------------------
# async: they run on the event loop that uses the keyrings (never from the threadpool)
@router.get("/upstream-keys")
async def upstream_keys_list(_: AdminDep, request: Request) -> list[dict[str, Any]]:
    """This process's upstream keys (``…last4``, weight, active/revoked)."""
    return list(request.app.state.runtime.upstreams.key_states())


@router.post("/upstream-keys/reload")
async def upstream_keys_reload(_: AdminDep, request: Request) -> list[dict[str, Any]]:
    """Re-read the key settings now, as SIGHUP does (400 with the reason when invalid)."""
    return list(request.app.state.runtime.reload_upstream_keys())


# --- errors ----------------------------------------------------------------------------------
def _error(status: int, message: str, *, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    kind = "invalid_request_error" if status < 500 else "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)  # noqa: S101 - type narrowing: registered for GatewayError only
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.response_headers())


async def _config_error(_: Request, exc: Exception) -> JSONResponse:
    return _error(400, str(exc), code="invalid_config")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)  # noqa: S101 - type narrowing: registered for HTTPException only
    return _error(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """The first problem, naming its field: ``body.amount_usd: Input should be …``."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - type narrowing: registered for RequestValidationError only
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        return _error(400, "request body is not valid JSON", code="invalid_json")
    loc = [str(p) for p in first.get("loc", ())]
    param = ".".join(loc[1:]) if len(loc) > 1 else None
    return _error(422, f"{'.'.join(loc)}: {first.get('msg')}", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    """OpenAI-shaped errors for every FastAPI route (``/v1`` has its own, in the proxy)."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(BudgetConfigError, _config_error)
    app.add_exception_handler(AlertConfigError, _config_error)
    app.add_exception_handler(SettingsError, _config_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
