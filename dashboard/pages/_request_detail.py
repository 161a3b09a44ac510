"""The request detail panel: one request's fields and its upstream attempts (pure rendering)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from collector.analytics import RequestDetail
from dashboard import format as fmt
from dashboard import tables
from dashboard.components import data_table, download_button
from dashboard.palette import OUTCOME_COLOURS

ATTEMPTS_TABLE = "requests-attempts-table"
ATTEMPT_COLUMNS = (
    "attempt_no", "started_at", "duration_ms", "model", "upstream", "provider", "http_status",
    "error_type", "error_message", "prompt_tokens", "completion_tokens", "cost_usd",
)  # fmt: skip
ATTEMPT_HEADERS = tables.columns(
    [
        ("attempt_no", "#"),
        ("started_at", "Started (UTC)"),
        ("wait_ms", "Waited"),
        ("duration_ms", "Duration"),
        ("model", "Model"),
        ("provider", "Provider"),
        ("http_status", "Status"),
        ("error_type", "Error"),
        ("completion_tokens", "Out tokens"),
        ("cost_usd", "Cost"),
    ]
)
ATTEMPT_FORMATS = {
    "started_at": tables.when_ms,
    "wait_ms": tables.duration,
    "duration_ms": tables.duration,
    "cost_usd": tables.money,
    "completion_tokens": tables.count,
    "prompt_tokens": tables.count,
}


def attempts_frame(detail: RequestDetail) -> pd.DataFrame:
    """The attempts as a DataFrame (for the table and its CSV), with ``wait_ms``: the time
    between the previous attempt's end and this one's start — the backoff."""
    rows = [[getattr(a, c) for c in ATTEMPT_COLUMNS] for a in detail.attempts]
    df = pd.DataFrame(rows, columns=list(ATTEMPT_COLUMNS))
    waits: list[float | None] = [None]
    for before, after in zip(detail.attempts, detail.attempts[1:], strict=False):
        ended = before.started_at.timestamp() * 1000 + float(before.duration_ms or 0)
        waits.append(max(after.started_at.timestamp() * 1000 - ended, 0.0))
    df.insert(2, "wait_ms", waits[: len(df)])
    return df


def outcome_badge(outcome: str) -> html.Span:
    colour = OUTCOME_COLOURS.get(outcome, "#7b8a8b")
    return html.Span(
        outcome.replace("_", " "), className="ss-badge", style={"backgroundColor": colour}
    )


def _field(name: str, value: Any) -> list[Any]:
    shown = value if value not in (None, "", {}) else fmt.MISSING
    return [html.Dt(name), html.Dd(shown)]


def _tokens(detail: RequestDetail) -> str:
    r = detail.request
    parts = [f"{fmt.count(r.prompt_tokens)} in ({fmt.count(r.cached_tokens)} cached)"]
    parts.append(
        f"{fmt.count(r.completion_tokens)} out ({fmt.count(r.reasoning_tokens)} reasoning)"
    )
    return " · ".join(parts)


def _cost(detail: RequestDetail) -> str:
    r = detail.request
    source = r.cost_source.replace("_", " ")
    if r.cost_usd is None:
        return "unpriced — no price is known for this model yet"
    return f"{fmt.money(r.cost_usd)} ({source})"


def _fields(detail: RequestDetail) -> html.Dl:
    r = detail.request
    models = r.model_served or fmt.MISSING
    if r.model_requested and r.model_requested != r.model_served:
        models = f"{models} (asked for {r.model_requested})"
    items = [
        ("Started", f"{r.started_at:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"),
        ("Model", models),
        ("Endpoint", f"{r.endpoint}{' · stream' if r.stream else ''}"),
        ("Duration", fmt.duration_ms(r.duration_ms)),
        ("Time to first token", fmt.duration_ms(r.ttft_ms)),
        ("Tokens", _tokens(detail)),
        ("Cost", _cost(detail)),
        ("Price", r.price_id),
        ("Project", detail.project_name),
        ("Key", detail.key_label),
        ("End user", r.end_user),
        ("Tags", ", ".join(f"{k}={v}" for k, v in (r.tags or {}).items())),
        ("HTTP status", r.http_status),
        ("Error", " — ".join(x for x in (r.error_type, r.error_message) if x)),
        ("Provider", r.provider),
        ("Upstream request", r.upstream_request_id),
    ]
    return html.Dl(
        [part for name, value in items for part in _field(name, value)], className="ss-fields"
    )


def detail_body(detail: RequestDetail | None, request_id: str, button_id: str) -> list[Any]:
    """The panel's content; ``button_id`` is the attempts' CSV button."""
    if detail is None:
        return [
            dbc.Alert(
                f"No request with id {request_id} (it may be outside retention).", color="warning"
            )
        ]
    r = detail.request
    attempts = attempts_frame(detail)
    return [
        html.Div([outcome_badge(r.outcome), html.Code(r.id, className="ms-2")], className="mb-3"),
        _fields(detail),
        html.Div(
            [
                html.H6(f"Attempts ({len(detail.attempts)})", className="mb-0"),
                download_button(button_id),
            ],
            className="ss-card-header mt-3 mb-2",
        ),
        data_table(
            ATTEMPTS_TABLE,
            ATTEMPT_HEADERS,
            data=tables.records(attempts, ATTEMPT_FORMATS),
            tooltip_data=[
                {"error_type": {"value": str(m or ""), "type": "text"}}
                for m in attempts["error_message"]
            ],
        ),
    ]
