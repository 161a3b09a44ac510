"""One request with its attempts, and the values the requests page's filters offer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, distinct, select

from collector.analytics._model import FilterOptions, RequestDetail
from collector.analytics._sql import DAILY, PROJECTS, ROLLUPS, TAGS, key_labels, project_names
from collector.db import Attempt, Project, Request, session_scope


def request_detail(engine: Engine, request_id: str) -> RequestDetail | None:
    """A request and its attempts (by attempt number), or None when the id is unknown."""
    with session_scope(engine) as session:
        request = session.get(Request, request_id)
        if request is None:
            return None
        attempts = session.scalars(
            select(Attempt).where(Attempt.request_id == request_id).order_by(Attempt.attempt_no)
        ).all()
        project = session.get(Project, request.project_id) if request.project_id else None
        keys = key_labels(session.connection()) if request.api_key_id else {}
        session.expunge_all()
    return RequestDetail(
        request=request,
        attempts=tuple(attempts),
        project_name=project.name if project else None,
        key_label=keys.get(request.api_key_id) if request.api_key_id else None,
    )


def _distinct(conn: Connection, column: Any) -> tuple[str, ...]:
    values = conn.scalars(select(distinct(column)).where(column != ""))
    return tuple(sorted(str(v) for v in values))


def filter_options(engine: Engine) -> FilterOptions:
    """Every project, key, end user, model and tag that a filter could select.

    Read from the daily rollups (they hold every value the hourly ones do, 24× fewer rows;
    models from the project rollups, fewer still).
    """
    with engine.connect() as conn:
        projects = sorted(project_names(conn).items(), key=lambda item: item[1])
        keys = sorted(key_labels(conn).items(), key=lambda item: item[1])
        return FilterOptions(
            projects=tuple(projects),
            keys=tuple(keys),
            users=_distinct(conn, DAILY[ROLLUPS].c.end_user),
            models=_distinct(conn, DAILY[PROJECTS].c.model),
            tags=_distinct(conn, DAILY[TAGS].c.tag),
        )
