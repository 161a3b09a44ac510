"""Building blocks every page uses: stat cards, chart cards, table cards with a CSV button."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.dash_table.DataTable import DataTable

GRAPH_CONFIG: Any = {"displaylogo": False, "displayModeBar": False}

TABLE_STYLE: dict[str, Any] = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {
        "fontFamily": "Lato, system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        "fontSize": "0.875rem",
        "padding": "6px 10px",
        "textAlign": "left",
        "border": "none",
        "borderBottom": "1px solid #ecf0f1",
        "whiteSpace": "nowrap",
        "maxWidth": "320px",
        "overflow": "hidden",
        "textOverflow": "ellipsis",
    },
    "style_header": {
        "fontWeight": "700",
        "backgroundColor": "#f8f9fa",
        "borderBottom": "2px solid #dee2e6",
        "color": "#2c3e50",
    },
    "style_data_conditional": [
        {"if": {"state": "active"}, "backgroundColor": "#e8f6f3", "border": "none"},
    ],
}


def stat_card(
    title: str, value: Any, detail: Any = None, *, card_id: str | None = None, tone: str = ""
) -> dbc.Card:
    """One headline number with a line of context under it."""
    body = [
        html.Div(title, className="ss-stat-title"),
        html.Div(value, className=f"ss-stat-value {tone}".strip()),
    ]
    if detail is not None:
        body.append(html.Div(detail, className="ss-stat-detail"))
    extra = {"id": card_id} if card_id else {}
    return dbc.Card(dbc.CardBody(body), className="ss-stat h-100", **extra)


def card(
    title: str, children: Any, *, controls: Any = None, subtitle: str | None = None
) -> dbc.Card:
    """A titled card; ``controls`` sit on the right of the header."""
    head: list[Any] = [html.Div([html.H6(title, className="mb-0"), _subtitle(subtitle)])]
    if controls is not None:
        head.append(html.Div(controls, className="ss-card-controls"))
    return dbc.Card(
        [dbc.CardHeader(head, className="ss-card-header"), dbc.CardBody(children)],
        className="ss-card h-100",
    )


def _subtitle(text: str | None) -> Any:
    return html.Small(text, className="text-muted") if text else None


def graph(graph_id: str, *, height: int = 320) -> dcc.Loading:
    """A chart slot that shows a spinner while its callback runs."""
    return dcc.Loading(
        dcc.Graph(id=graph_id, config=GRAPH_CONFIG, style={"minHeight": f"{height}px"}),
        type="dot",
        color="#18bc9c",
        delay_show=250,
    )


def graph_card(
    title: str, graph_id: str, *, controls: Any = None, subtitle: str | None = None
) -> dbc.Card:
    return card(title, graph(graph_id), controls=controls, subtitle=subtitle)


def download_button(button_id: str) -> dbc.Button:
    """A small "CSV" button (its ``dcc.Download`` lives elsewhere)."""
    return dbc.Button(
        "CSV",
        id=button_id,
        size="sm",
        color="secondary",
        outline=True,
        className="ss-csv",
        title="Download as CSV (exact amounts)",
    )


def csv_button(button_id: str, download_id: str) -> html.Div:
    """A "CSV" button and the download it triggers."""
    return html.Div([download_button(button_id), dcc.Download(id=download_id)])


def data_table(table_id: str, columns: Any, **kwargs: Any) -> Any:
    """A DataTable in the dashboard's style (extra DataTable props pass through)."""
    props = {"data": [], **TABLE_STYLE, **kwargs}
    return DataTable(id=table_id, columns=columns, **props)


def paged_table(table_id: str, columns: Any, page_size: int, **kwargs: Any) -> Any:
    """A table whose pages come from the server (a callback answers ``page_current``)."""
    paging = {"page_action": "custom", "page_current": 0, "page_count": 1}
    return data_table(table_id, columns, page_size=page_size, **paging, **kwargs)


def table_card(
    title: str,
    table: Any,
    *,
    button_id: str,
    download_id: str,
    subtitle: str | None = None,
) -> dbc.Card:
    """A card holding a table, with its CSV download in the header."""
    loading = dcc.Loading(table, type="dot", color="#18bc9c", delay_show=250)
    return card(title, loading, controls=csv_button(button_id, download_id), subtitle=subtitle)


def notice(message: str, color: str = "light") -> dbc.Alert:
    """A quiet inline message (unsupported filter, nothing configured yet, …)."""
    return dbc.Alert(message, color=color, className="ss-notice mb-0")


def segmented(component_id: str, labels: dict[str, str], value: str) -> dbc.RadioItems:
    """A row of toggle buttons choosing one of ``labels`` (value → label)."""
    return dbc.RadioItems(
        id=component_id,
        options=[{"label": label, "value": key} for key, label in labels.items()],
        value=value,
        inline=True,
        className="ss-segmented",
        inputClassName="btn-check",
        labelClassName="btn btn-sm btn-outline-primary",
        labelCheckedClassName="active",
    )


def page_header(title: str, lead: str) -> html.Div:
    return html.Div(
        [html.H4(title, className="mb-0"), html.P(lead, className="text-muted mb-0")],
        className="ss-page-header",
    )
