"""The frame around every page: navbar, the shared filter bar (synced with the URL), refresh.

The filter bar writes the URL query string; pages read their filters from the query string
Dash pages hands their ``layout()``; so a copied link reproduces the view exactly.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update

from collector import analytics
from collector.db.replica import describe, replica_lag
from dashboard import ids
from dashboard.auth import LOGOUT_PATH, csrf_token, current_principal
from dashboard.context import resources
from dashboard.filters import (
    RANGE_LABELS,
    RANGE_PRESETS,
    FilterState,
    from_controls,
    merge_search,
    parse_search,
    time_range,
)

PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/spend", "Spend"),
    ("/reliability", "Reliability"),
    ("/latency", "Latency"),
    ("/requests", "Requests"),
    ("/batches", "Batches"),
    ("/budgets", "Budgets & alerts"),
    ("/reconciliation", "Reconciliation"),
)
REFRESH_MS = 30_000
_log = logging.getLogger(__name__)
_CONTROLS = (ids.RANGE, ids.PROJECTS, ids.KEYS, ids.USERS, ids.MODELS, ids.TAGS)


def nav_id(path: str) -> str:
    return ids.NAV_PREFIX + (path.strip("/") or "overview")


def _user_menu() -> Any:
    principal = current_principal()
    if principal is None or principal.anonymous:
        return html.Span("read-only", className="ss-user text-white-50")
    return html.Span(
        [
            html.Span(principal.name, className="fw-bold"),
            html.Span(principal.role, className="ss-role"),
            html.Form(
                [
                    dcc.Input(type="hidden", name="csrf", value=csrf_token()),
                    html.Button("Sign out", type="submit", className="ss-signout"),
                ],
                method="POST",
                action=LOGOUT_PATH,
                className="ss-signout-form",
            ),
        ],
        className="ss-user",
    )


def _navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(name, id=nav_id(path), href=path)) for path, name in PAGES]
    refresh = dbc.Switch(
        id=ids.REFRESH_SWITCH,
        label="Auto-refresh",
        value=False,
        persistence=True,
        className="ss-refresh mb-0",
    )
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(
                    [html.Span("$", className="ss-brand-mark"), " spendscope"], href="/"
                ),
                dbc.Nav(links, navbar=True, className="me-auto"),
                html.Div([refresh, _user_menu()], className="ss-nav-right"),
            ],
            fluid=True,
        ),
        color="primary",
        dark=True,
        className="ss-navbar",
    )


def _dropdown(component_id: str, placeholder: str, width: str = "") -> dcc.Dropdown:
    return dcc.Dropdown(
        id=component_id,
        options=[],
        value=[],
        multi=True,
        placeholder=placeholder,
        className=f"ss-filter {width}".strip(),
    )


def _filter_bar() -> html.Div:
    presets: Any = [
        {"label": RANGE_LABELS[p], "value": p, "disabled": p == "custom"} for p in RANGE_PRESETS
    ]
    return html.Div(
        [
            dbc.Container(
                [
                    dcc.Dropdown(
                        id=ids.RANGE,
                        options=presets,
                        value="7d",
                        clearable=False,
                        searchable=False,
                        className="ss-filter ss-filter-range",
                    ),
                    _dropdown(ids.PROJECTS, "All projects"),
                    _dropdown(ids.KEYS, "All keys"),
                    _dropdown(ids.USERS, "All users"),
                    _dropdown(ids.MODELS, "All models", "ss-filter-wide"),
                    _dropdown(ids.TAGS, "All tags"),
                    dbc.Button(
                        "Reset", id=ids.RESET, color="link", size="sm", className="ss-reset"
                    ),
                    html.Span(id=ids.RANGE_TEXT, className="ss-range-text"),
                ],
                fluid=True,
                className="ss-filter-row",
            ),
            html.Div(id=ids.FILTER_PROBLEMS, role="status", className="ss-filter-problems"),
        ],
        className="ss-filterbar",
    )


def recording_banner(_tick: int | None = None) -> list[Any]:
    """A warning while any gateway's recording is degraded (firing recorder_health alerts):
    the numbers below may be missing requests until it recovers."""
    try:
        issues = analytics.recording_issues(resources().engine)
    except Exception:  # the banner must never take the page down with it
        _log.exception("dashboard: recording status unavailable")
        return []
    if not issues:
        return []
    lines: list[Any] = [html.Strong("Recording is degraded: "), "figures may lag. "]
    lines += [html.Div(issue, className="small") for issue in issues[:5]]
    return [dbc.Alert(lines, color="warning", className="ss-recording mb-0 rounded-0")]


def replica_banner(_tick: int | None = None) -> list[Any]:
    """A warning while the read replica the pages read is further behind the primary than
    ``SPENDSCOPE_REPLICA_LAG_BOUND_S``: the newest requests are not in the figures yet."""
    res = resources()
    if res.primary is None:
        return []
    bound = res.settings.replica_lag_bound_s
    try:
        lag = replica_lag(res.primary, res.engine)
    except Exception:  # the banner must never take the page down with it
        _log.exception("dashboard: replica lag unavailable")
        return []
    if not lag.exceeds(bound):
        return []
    lines: list[Any] = [
        html.Strong("The read replica is behind: "),
        f"figures may miss the newest requests ({describe(lag)}; bound {bound:g} s).",
    ]
    return [dbc.Alert(lines, color="warning", className="ss-replica-lag mb-0 rounded-0")]


def layout() -> html.Div:
    """The app's root layout (a function: rendered per visit, for the signed-in user)."""
    return html.Div(
        [
            dcc.Location(id=ids.URL, refresh=False),
            dcc.Interval(id=ids.INTERVAL, interval=REFRESH_MS, disabled=True),
            _navbar(),
            html.Div(recording_banner(), id=ids.RECORDING),
            html.Div(replica_banner(), id=ids.REPLICA),
            _filter_bar(),
            dbc.Container(dash.page_container, fluid=True, className="ss-page"),
        ]
    )


def controls_of(state: FilterState) -> tuple[Any, ...]:
    """Control values showing ``state`` (range, projects, keys, users, models, tags)."""
    return (
        state.range,
        list(state.projects),
        list(state.keys),
        list(state.users),
        list(state.models),
        list(state.tags),
    )


def sync_filters(trigger: str | None, search: str | None, controls: tuple[Any, ...]) -> list[Any]:
    """URL → controls on load or navigation; controls → URL on a change; reset → defaults."""
    keep = [no_update] * len(_CONTROLS)
    if trigger in (None, ids.URL):
        return [no_update, *controls_of(parse_search(search))]
    if trigger == ids.RESET:
        return [merge_search(search, FilterState()), *controls_of(FilterState())]
    state = from_controls(*controls, previous=parse_search(search))
    new = merge_search(search, state)
    return [new if new != (search or "") else no_update, *keep]


def range_text(search: str | None) -> str:
    """The exact UTC dates shown, so "last 7 days" is never ambiguous."""
    start, end = time_range(parse_search(search), resources().now())
    last = end - (end - start) / 10**6  # the range is half-open
    same_year = start.year == last.year
    first = start.strftime("%b %d" if same_year else "%b %d, %Y")
    return f"{first} – {last:%b %d, %Y} · UTC"


def filter_problems(search: str | None) -> str:
    """What the link asked for that could not be used, said once, above the page."""
    problems = parse_search(search).problems
    return f"Some filters in this link were ignored: {'; '.join(problems)}." if problems else ""


def dropdown_options(opts: analytics.FilterOptions, state: FilterState) -> tuple[list[Any], ...]:
    """Each dropdown's choices, always including what the URL selects: a dcc.Dropdown drops
    a value missing from its options, which would silently widen the view."""

    def merged(pairs: list[tuple[Any, str]], selected: tuple[Any, ...]) -> list[Any]:
        known = {value for value, _ in pairs}
        extra = [(v, f"#{v}" if isinstance(v, int) else str(v)) for v in selected if v not in known]
        return [{"label": label, "value": value} for value, label in [*pairs, *extra]]

    return (
        merged(list(opts.projects), state.projects),
        merged(list(opts.keys), state.keys),
        merged([(u, u) for u in opts.users], state.users),
        merged([(m, m) for m in opts.models], state.models),
        merged([(t, t) for t in opts.tags], state.tags),
    )


def on_filters(trigger: str | None, search: str | None, *controls: Any) -> list[Any]:
    """The sync callback: on load the options arrive together with the values they hold."""
    out = sync_filters(trigger, search, controls)
    if trigger not in (None, ids.URL):
        return [*out, *([no_update] * (len(_CONTROLS) - 1))]
    return [*out, *refresh_options(None, search)]


def refresh_options(_tick: int | None, search: str | None) -> tuple[list[Any], ...]:
    """Choices re-read with the data (auto-refresh), keeping the selected values."""
    return dropdown_options(analytics.filter_options(resources().engine), parse_search(search))


def nav_state(pathname: str | None, search: str | None) -> list[Any]:
    """Each nav link keeps the filters; the current page's link is active."""
    current = (pathname or "/").rstrip("/") or "/"
    return [f"{path}{search or ''}" for path, _ in PAGES] + [path == current for path, _ in PAGES]


def register_callbacks(app: dash.Dash) -> None:
    options = [Output(c, "options", allow_duplicate=True) for c in _CONTROLS[1:]]
    app.callback(
        Output(ids.URL, "search"),
        *(Output(c, "value") for c in _CONTROLS),
        *options,
        Input(ids.URL, "search"),
        *(Input(c, "value") for c in _CONTROLS),
        Input(ids.RESET, "n_clicks"),
        prevent_initial_call="initial_duplicate",
    )(lambda search, *rest: on_filters(ctx.triggered_id, search, *rest[:-1]))
    app.callback(Output(ids.RANGE_TEXT, "children"), Input(ids.URL, "search"))(range_text)
    app.callback(Output(ids.FILTER_PROBLEMS, "children"), Input(ids.URL, "search"))(filter_problems)
    app.callback(
        *options,
        Input(ids.INTERVAL, "n_intervals"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(refresh_options)
    app.callback(
        *(Output(nav_id(path), "href") for path, _ in PAGES),
        *(Output(nav_id(path), "active") for path, _ in PAGES),
        Input(ids.URL, "pathname"),
        Input(ids.URL, "search"),
    )(nav_state)
    app.callback(
        Output(ids.RECORDING, "children"),
        Input(ids.INTERVAL, "n_intervals"),
        prevent_initial_call=True,
    )(recording_banner)
    app.callback(
        Output(ids.REPLICA, "children"),
        Input(ids.INTERVAL, "n_intervals"),
        prevent_initial_call=True,
    )(replica_banner)
    app.callback(Output(ids.INTERVAL, "disabled"), Input(ids.REFRESH_SWITCH, "value"))(
        lambda on: not on
    )
