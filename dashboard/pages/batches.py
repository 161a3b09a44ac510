"""Batch API jobs: each job's status, request counts, lines recorded and cost so far.

A job's id links to the Requests page filtered to its lines. The project filter applies;
the time range does not (a job is listed until it ages out of the newest ``LIMIT``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import dash
from dash import html

from collector import analytics
from dashboard import tables
from dashboard.components import card, data_table, page_header
from dashboard.pages._common import Data, filled, register_data, register_page, view

PATH = "/batches"
TABLE = "batches-table"
LIMIT = 200
COLUMNS = (
    ("id", "Job"), ("status", "Status"), ("project", "Project"), ("key", "Key"),
    ("end_user", "User"), ("endpoint", "Endpoint"), ("model", "Model"),
    ("request_total", "Requests"), ("request_completed", "Completed"),
    ("request_failed", "Failed"), ("lines_recorded", "Lines recorded"),
    ("cost_usd", "Cost so far"), ("unpriced_lines", "Unpriced lines"),
    ("created_at", "Created"), ("completed_at", "Ended"),
)  # fmt: skip
FORMATS: dict[str, tables.Formatter] = {
    "cost_usd": tables.money, "created_at": tables.when, "completed_at": tables.when,
    "request_total": tables.count, "request_completed": tables.count,
    "request_failed": tables.count, "lines_recorded": tables.count,
    "unpriced_lines": tables.count,
}  # fmt: skip


def _link(batch_id: str) -> str:
    """The job's id as a link to its lines on the Requests page (markdown)."""
    return f"[{batch_id}](/requests?q={quote(batch_id)})"


def rows(search: str | None, _tick: int | None) -> list[dict[str, Any]]:
    v = view(search)
    df = analytics.batches_frame(v.engine, project_ids=v.filters.project_ids, limit=LIMIT)
    out = tables.records(df, FORMATS)
    for row in out:
        row["id"] = _link(row["id"])
    return out


def layout(**query: Any) -> html.Div:
    columns = tables.columns(COLUMNS)
    columns[0]["presentation"] = "markdown"
    table = data_table(TABLE, columns, page_size=25, markdown_options={"link_target": "_self"})
    page = html.Div(
        [
            page_header(
                "Batch API jobs", "Each job's lines are recorded at batch rates once it ends."
            ),
            card("Jobs", table, subtitle=f"newest {LIMIT}; cost so far sums the priced lines"),
        ],
        className="ss-stack",
    )
    return filled(page, DATA, query)


DATA = (Data(((TABLE, "data"),), rows),)


def register(app: dash.Dash) -> None:
    register_page(
        __name__, path=PATH, name="Batches", title="Batches · spendscope", order=5, layout=layout
    )
    register_data(app, DATA)
