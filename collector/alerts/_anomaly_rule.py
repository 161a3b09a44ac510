"""The ``spend_anomaly`` rule: parameters, what to measure, and the alert text (pure but
for :func:`measure_anomalies`, which reads through ``collector.anomaly``).

Dedup key ``rule | scope | window | sensitivity | member``: one alert per member while its
spend stays unusual, resolved when it is back in its band.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from collector.alerts._common import dedup_key, number, parse_duration
from collector.alerts._types import Alert, AlertConfigError, Measurements, Rule
from collector.anomaly import (
    CENTERS,
    DEFAULT_WEEKS,
    SCALES,
    AnomalyParams,
    Center,
    Finding,
    HistoryCache,
    Scale,
    Split,
    Watch,
    find_unusual,
)
from collector.budgets import Scope, ScopeKind, usd

_DEFAULT = AnomalyParams()
ANOMALY_DEFAULTS: dict[str, Any] = {
    "window": "1h", "weeks": DEFAULT_WEEKS, "sensitivity": str(_DEFAULT.sensitivity),
    "min_usd": str(_DEFAULT.min_usd), "floor_pct": str(_DEFAULT.floor_pct),
    "floor_usd": str(_DEFAULT.floor_usd), "center": _DEFAULT.center, "scale": _DEFAULT.scale,
    "per": None, "top": 5,
}  # fmt: skip
# Rules stored before ``center`` existed were judged around the median: they still are.
_STORED_CENTER: Center = "median"
# Rules stored before ``scale`` existed took the MAD of the same hours only: they still do.
_STORED_SCALE: Scale = "mad"
MAX_WINDOW_HOURS = 24
_SPLITS = ("project", "key", "user", "model")
_ROLLUP_ONLY = {ScopeKind.KEY, ScopeKind.USER}  # not in the tag rollups


def parse_split(raw: Any) -> Split | None:
    """``per``: none, project, key, user, model or tag:KEY."""
    if raw in (None, "", "none"):
        return None
    text = str(raw).strip()
    if text in _SPLITS:
        return Split(ScopeKind(text))
    key = text.removeprefix("tag:")
    if text.startswith("tag:") and key.strip() and "=" not in key:
        return Split(ScopeKind.TAG, key.strip())
    raise AlertConfigError(f"bad per {raw!r}; use project, key, user, model or tag:KEY")


def _whole(params: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = number(params, name, Decimal(low), Decimal(high))
    if value != value.to_integral_value():
        raise AlertConfigError(f"parameter {name} must be a whole number, got {value}")
    return int(value)


def parse_center(raw: Any) -> Center:
    """``center``: trimmed (the mean without the highest and lowest week) or median."""
    for center in CENTERS:
        if raw == center:
            return center
    raise AlertConfigError(f"bad center {raw!r}; use {' or '.join(CENTERS)}")


def parse_scale(raw: Any) -> Scale:
    """``scale``: pooled (the MAD of the window's and the neighbouring hour's earlier weeks)
    or mad (the window's earlier weeks only)."""
    for scale in SCALES:
        if raw == scale:
            return scale
    raise AlertConfigError(f"bad scale {raw!r}; use {' or '.join(SCALES)}")


def _window_hours(raw: Any) -> int:
    hours = parse_duration(raw).total_seconds() / 3600
    if hours != int(hours) or not 1 <= hours <= MAX_WINDOW_HOURS:
        raise AlertConfigError(f"window {raw!r} must be whole hours, 1h..{MAX_WINDOW_HOURS}h")
    return int(hours)


def _check_split(scope: Scope, split: Split | None) -> None:
    kinds = {scope.kind, split.kind if split else scope.kind}
    if ScopeKind.TAG in kinds and kinds & _ROLLUP_ONLY:
        raise AlertConfigError("tags are rolled up by project and model only: a tag scope or "
                               "per=tag:KEY cannot be combined with key or user")  # fmt: skip
    if scope.kind is ScopeKind.TAG and split is not None and split.kind is ScopeKind.TAG:
        raise AlertConfigError("a tag scope cannot be split per tag")


def check_anomaly(scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
    """Every parameter checked (one line naming the bad one); returned as given."""
    _window_hours(params["window"])
    _whole(params, "weeks", 1, 26)
    _whole(params, "top", 0, 50)
    number(params, "sensitivity", Decimal("0.5"), Decimal(1000))
    number(params, "min_usd", Decimal(0), Decimal(10**9))
    number(params, "floor_pct", Decimal(0), Decimal(10000))
    if number(params, "floor_usd", Decimal(0), Decimal(10**9)) <= 0:
        raise AlertConfigError("parameter floor_usd must be above 0 (the band of a scope "
                               "without history is floor_usd × sensitivity wide)")  # fmt: skip
    parse_center(params["center"])
    parse_scale(params["scale"])
    _check_split(scope, parse_split(params["per"]))
    return params


def watch_of(rule: Rule) -> Watch:
    p = rule.params
    params = AnomalyParams(
        sensitivity=Decimal(str(p["sensitivity"])), min_usd=Decimal(str(p["min_usd"])),
        floor_pct=Decimal(str(p["floor_pct"])), floor_usd=Decimal(str(p["floor_usd"])),
        center=parse_center(p.get("center", _STORED_CENTER)),
        scale=parse_scale(p.get("scale", _STORED_SCALE)),
    )  # fmt: skip
    split = parse_split(p["per"])
    return Watch(
        rule.scope, split, _window_hours(p["window"]), int(p["weeks"]), params, int(p["top"])
    )


def measure_anomalies(
    engine: Engine, rule: Rule, now: datetime, cache: HistoryCache | None = None
) -> Measurements:
    return Measurements(findings=tuple(find_unusual(engine, watch_of(rule), now, cache)))


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _behind(f: Finding) -> str:
    users = ", ".join(f"{u.user or '(no user)'} {usd(u.cost_usd)} ({u.requests} req.)"
                      for u in f.contributors.users)  # fmt: skip
    requests = ", ".join(f"{r.id} {usd(r.cost_usd)}" for r in f.contributors.requests)
    return f" Top users: {users or 'none'}. Top requests: {requests or 'none'}."


def _text(rule: Rule, f: Finding) -> str:
    v, b = f.verdict, f.verdict.band
    where = str(rule.scope) if f.member is None else f"{f.member} (in {rule.scope})"
    so_far = "" if f.complete else " so far"
    factor = f"{v.factor}× the usual" if v.factor is not None else "where nothing is usually spent"
    usual = "median" if rule.params.get("center", _STORED_CENTER) == "median" else "usual"
    return (
        f"Unusual spend in {where}: {usd(v.observed)}{so_far} from {_when(f.start)} to "
        f"{_when(f.end)} UTC, {factor}; expected {usd(b.low)}–{usd(b.high)} ({usual} "
        f"{usd(b.usual)} of the same hours in {b.weeks} earlier weeks)." + _behind(f)
    )


def _details(rule: Rule, f: Finding) -> dict[str, Any]:
    v, b = f.verdict, f.verdict.band
    return {
        "scope": str(f.member or rule.scope), "window": rule.params["window"],
        "start": f.start.isoformat(), "end": f.end.isoformat(), "complete": f.complete,
        "observed_usd": str(v.observed), "expected_low_usd": str(b.low),
        "expected_high_usd": str(b.high), "usual_usd": str(b.usual),
        "median_usd": str(b.median),
        "factor": None if v.factor is None else str(v.factor), "weeks": b.weeks,
        "top_users": [{"user": u.user, "cost_usd": str(u.cost_usd), "requests": u.requests}
                      for u in f.contributors.users],
        "top_requests": [{"id": r.id, "cost_usd": str(r.cost_usd), "model": r.model,
                          "user": r.user, "started_at": r.started_at.isoformat()}
                         for r in f.contributors.requests],
    }  # fmt: skip


def spend_anomaly(rule: Rule, m: Measurements, now: datetime) -> list[Alert]:
    """One alert per unusual member."""
    out = []
    for f in m.findings:
        member = "" if f.member is None else str(f.member)
        key = dedup_key(rule, rule.params["window"], rule.params["sensitivity"], member)
        out.append(Alert(rule.id, rule.name, rule.kind, key, _text(rule, f), _details(rule, f)))
    return out
