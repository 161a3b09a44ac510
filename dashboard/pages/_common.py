"""What every page's callbacks share: turning the page's query into filters, and notices."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import dash
import flask
from dash import Input, Output, State
from dash.development.base_component import Component
from sqlalchemy import Engine

from collector.analytics import Bucket, Filters
from collector.settings import Settings
from dashboard import ids
from dashboard.context import resources
from dashboard.filters import Query, bucket_for, parse_search, query_of, search_of, to_filters


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


Slot = tuple[str, str]  # (component id, property)


@dataclass(frozen=True, slots=True)
class Data:
    """A page's data: component properties filled by ``func(search, tick)`` from the URL.

    Drawn into the page by ``layout()`` (``filled``), so a visit or a navigation paints in
    the router's one round trip; the callback (``register_data``) re-reads them when the
    filter bar changes the URL or auto-refresh ticks. As callbacks only, a cold first
    paint waited for a second round of requests after the page's layout arrived, and Dash
    held that round until plotly.js, loaded by the first chart, had run.
    """

    outputs: tuple[Slot, ...]
    func: Callable[[str | None, int | None], Any]

    def values(self, search: str | None) -> tuple[Any, ...]:
        out = self.func(search, None)
        return tuple(out) if len(self.outputs) > 1 else (out,)


def register_data(app: dash.Dash, data: Sequence[Data]) -> None:
    """Each ``Data``'s callback on later changes of the URL's search or a refresh tick."""
    for d in data:
        app.callback(
            *(Output(component, prop) for component, prop in d.outputs),
            Input(ids.URL, "search"),
            Input(ids.INTERVAL, "n_intervals"),
            prevent_initial_call=True,
        )(d.func)


PageT = TypeVar("PageT", bound=Component)


def filled(page: PageT, data: Sequence[Data], query: Query) -> PageT:
    """``page`` with every ``Data``'s properties set for the URL's ``query``.

    The ``Data`` run side by side, as their callbacks did: one's queries (the database
    drivers release the GIL) overlap another's figure building.
    """
    search = search_of(query)
    with ThreadPoolExecutor(len(data) or 1, thread_name_prefix="page-data") as pool:
        runs = [pool.submit(flask.copy_current_request_context(d.values), search) for d in data]
        for d, run in zip(data, runs, strict=True):
            fill(page, d.outputs, run.result())
    return page


def fill(page: Component, outputs: Sequence[Slot], values: Sequence[Any]) -> None:
    """Set each ``(component id, property)`` of ``page`` to its value (``no_update``: kept)."""
    for (component, prop), value in zip(outputs, values, strict=True):
        if value is not dash.no_update:
            setattr(page[component], prop, value)


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
