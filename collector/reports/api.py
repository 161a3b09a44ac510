"""``GET /api/reports/chargeback``: the same reports over HTTP, for the lead to mount.

Auth is injected: ``make_router(engine_dep, auth_dep)`` takes FastAPI dependencies, so the
app decides who may read reports and which engine they read.
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the route's Annotated
# parameters, which refer to the closure's dependencies.
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response
from sqlalchemy import Engine

from collector.reports import parse_month, render_report

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # a file name in a header: nothing else survives
_MEDIA = {"csv": "text/csv; charset=utf-8", "focus": "text/csv; charset=utf-8"}


def _allow_all() -> None:
    """The default dependency: no auth (the lead mounts the router with a real one)."""


def make_router(
    engine_dep: Callable[..., Engine], auth_dep: Callable[..., Any] = _allow_all
) -> APIRouter:
    """A router serving the chargeback and FOCUS reports; 422 with one line on bad input."""
    router = APIRouter(prefix="/api/reports", tags=["reports"], dependencies=[Depends(auth_dep)])

    @router.get("/chargeback")
    def chargeback_report(
        engine: Annotated[Engine, Depends(engine_dep)],
        month: Annotated[str, Query(description="YYYY-MM (UTC calendar month)")],
        group_by: Annotated[
            str, Query(description="project|key|user|model|tag|provider")
        ] = "project",
        fmt: Annotated[str, Query(alias="format", description="csv|json|focus")] = "json",
    ) -> Response:
        try:
            start, _ = parse_month(month)  # validated first; only checked values name the file
            body = render_report(engine, month, group_by, fmt)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        media = _MEDIA.get(fmt, "application/json")
        ext = "json" if fmt == "json" else "csv"
        name = _UNSAFE.sub("_", f"spendscope-{fmt}-{start:%Y-%m}-{group_by}")
        headers = {"Content-Disposition": f'attachment; filename="{name}.{ext}"'}
        return Response(content=body, media_type=media, headers=headers)

    return router
