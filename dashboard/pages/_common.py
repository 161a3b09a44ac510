"""What every page's callbacks share: turning the page's query into filters, and notices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dash
from dash import Input, Output, State
from sqlalchemy import Engine

from collector.analytics import Bucket, Filters
from collector.settings import Settings
from dashboard import ids
from dashboard.context import resources
from dashboard.filters import bucket_for, parse_search, query_of, to_filters


def register_page(module: str, **kwargs: Any) -> None:
    """``dash.register_page`` (untyped upstream), called from each page's ``register``."""
    dash.register_page(module, **kwargs)  # type: ignore[no-untyped-call]


def register_download(
    app: dash.Dash, button: str, download: str, func: Callable[[int | None, str | None], Any]
) -> None:
    """``func(clicks, search)`` fills ``download`` when ``button`` is clicked (CSV buttons)."""
    app.callback(
        Output(download, "data"),
        Input(button, "n_clicks"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(func)


def register_url_param(
    app: dash.Dash, control: str, func: Callable[[Any, str | None], str]
) -> None:
    """``func(value, search)`` writes a page control's value into the URL's query string."""

    def update(value: Any, search: str | None) -> Any:
        return changed_search(func(value, search), search)

    app.callback(
        Output(ids.URL, "search", allow_duplicate=True),
        Input(control, "value"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(update)


def changed_search(new: str, search: str | None) -> Any:
    """``new``, or ``no_update`` when the URL says that already.

    A page's controls report their values when the page is drawn (Dash runs their callbacks
    then, as the page arrives through a callback); writing the same search back re-ran the
    filter bar and held the page's data callbacks for another round trip (~0.3-0.5 s of a
    cold first paint).
    """
    return new if new != (search or "") else dash.no_update


TAG_HINT = "{what} can't be split by tag yet — clear the tag filter to see it."


@dataclass(frozen=True, slots=True)
class View:
    """One callback's inputs, resolved: where to read, what to read, and when "now" is."""

    engine: Engine
    settings: Settings
    filters: Filters
    now: datetime

    @property
    def bucket(self) -> Bucket:
        return bucket_for(self.filters)


def params(source: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    """Query parameters from a search string (callbacks) or the mapping ``layout()`` gets."""
    return source if isinstance(source, Mapping) else query_of(source)


def view(search: str | None) -> View:
    """The filters of the URL's query string at the app's current time."""
    res = resources()
    now = res.now()
    return View(res.engine, res.settings, to_filters(parse_search(search), now), now)
