"""Callbacks called directly over a seeded SQLite database (no browser): thin, and right."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import dash
import pytest
from dash import no_update
from sqlalchemy import Engine

from dashboard import format as fmt
from dashboard import ids
from dashboard.pages import budgets, latency, overview, reliability, requests, spend
from dashboard.pages._common import changed_search
from dashboard.pages._request_detail import ATTEMPTS_TABLE
from dashboard.shell import PAGES, nav_state, on_filters, range_text, refresh_options
from tests.dashboard.seed import UNPRICED_MODEL, Seeded


@pytest.fixture(autouse=True)
def _request_context(app: dash.Dash) -> Iterator[None]:
    """Callbacks read the app's resources from the request being served."""
    with app.server.test_request_context():
        yield


def text_of(component: Any) -> str:
    """All the text a component tree would show."""
    if component is None or isinstance(component, (str, int, float)):
        return "" if component is None else str(component)
    if isinstance(component, (list, tuple)):
        return " ".join(text_of(c) for c in component)
    return text_of(getattr(component, "children", None))


def _components(component: Any) -> Iterator[Any]:
    """Every component in a tree, depth first."""
    if isinstance(component, (list, tuple)):
        for c in component:
            yield from _components(c)
    elif component is not None and not isinstance(component, (str, int, float)):
        yield component
        yield from _components(getattr(component, "children", None))


def events(seeded: tuple[Engine, Seeded]) -> list[Any]:
    return seeded[1].events


def test_overview_cards_match_the_seed(seeded: tuple[Engine, Seeded]) -> None:
    text = text_of(overview.update_cards("", None))
    assert f"{len(events(seeded)):,}" in text  # requests in the default 7 days
    assert "Unpriced requests" in text and "click to see which models" in text
    assert "of $40 budget" in text or "of $40.00 budget" in text  # the global monthly budget
    unpriced = sum(e.cost_source == "unpriced" for e in events(seeded))
    assert f"{unpriced:,}" in text


def test_overview_figures_follow_the_model_filter(seeded: tuple[Engine, Seeded]) -> None:
    everything = overview.update_spend("", None)
    assert len(everything.data) == 4
    one = overview.update_spend("?model=o3-mini-2025-01-31", None)
    assert [t.name for t in one.data] == ["o3-mini-2025-01-31"]
    latency_fig = overview.update_latency("?tag=team%3Dcheckout", None)
    assert "tag" in latency_fig.layout.annotations[0].text  # unsupported: says what to do


def test_spend_top_table_totals_exactly(seeded: tuple[Engine, Seeded]) -> None:
    df = spend.top_frame("?by=project")
    priced = [e for e in events(seeded) if e.cost_usd is not None]
    assert df["cost_usd"].sum() == sum((e.cost_usd for e in priced), Decimal(0))
    assert abs(sum(df["share"]) - 1.0) < 1e-9
    _fig, rows = spend.update_top("?by=project", None)
    assert {r["group"] for r in rows} == {"checkout", "search", "tools"}
    assert spend.set_by("project", "?range=30d") == "?range=30d&by=project"
    assert spend.set_by("model", "?range=30d&by=project") == "?range=30d"


def test_spend_by_provider_totals_exactly(seeded: tuple[Engine, Seeded]) -> None:
    df = spend.top_frame("?by=provider")
    priced = [e for e in events(seeded) if e.cost_usd is not None]
    assert list(df["group"]) == ["openai"]  # the seed is all OpenAI traffic
    assert df["cost_usd"].sum() == sum((e.cost_usd for e in priced), Decimal(0))
    figure = spend.update_over_time("?by=provider", None)
    assert [t.name for t in figure.data] == ["openai"]
    assert spend.set_by("provider", "?range=30d") == "?range=30d&by=provider"


def test_page_controls_drawn_with_the_urls_value_leave_the_url_alone() -> None:
    """A page arrives through a callback and its controls report their values: writing the
    same search back would re-run the filter bar and hold the page's data for a round trip."""
    for setter, value in ((spend.set_by, "model"), (reliability.set_errors_by, "error_type"),
                          (latency.set_percentile, "p95")):  # fmt: skip
        for search in ("?range=30d", "", None):
            assert changed_search(setter(value, search), search) is no_update
    assert changed_search(spend.set_by("key", "?range=30d"), "?range=30d") == "?range=30d&by=key"
    assert changed_search(spend.set_by("model", "?by=key"), "?by=key") == ""


def test_unpriced_models_are_never_a_silent_zero(seeded: tuple[Engine, Seeded]) -> None:
    _fig, rows = spend.update_top("", None)
    (row,) = [r for r in rows if r["group"] == UNPRICED_MODEL]
    assert row["cost_usd"] == "unpriced"
    assert all(r["cost_usd"].startswith("$") for r in rows if r["group"] != UNPRICED_MODEL)


def test_spend_csv_is_exact(seeded: tuple[Engine, Seeded]) -> None:
    payload = spend.download_top(1, "")
    rows = list(csv.DictReader(io.StringIO(payload["content"])))
    total = sum(Decimal(r["cost_usd"]) for r in rows)
    assert total == sum((e.cost_usd or Decimal(0) for e in events(seeded)), Decimal(0))
    assert payload["filename"].startswith("spendscope-top-model-")


def test_reliability_callbacks(seeded: tuple[Engine, Seeded]) -> None:
    _fig, rows = reliability.update_budget("", None)
    assert [r["project"] for r in rows] == ["checkout", "search", "tools"]
    burn, _retry, _attempts = reliability.update_trends("", None)
    assert {t.name for t in burn.data} == {"checkout", "search", "tools"}
    errors_fig, error_rows = reliability.update_errors("?errors_by=http_status", None)
    failed = sum(e.outcome != "success" for e in events(seeded))
    assert sum(int(r["requests"].replace(",", "")) for r in error_rows) == failed
    assert errors_fig.layout.yaxis.type == "category"


def test_latency_percentile_comes_from_the_url(seeded: tuple[Engine, Seeded]) -> None:
    p50, _, _ = latency.update("?pct=p50", None)
    p99, ttft, speed = latency.update("?pct=p99", None)
    assert max(max(t.y) for t in p99.data) > max(max(t.y) for t in p50.data)
    models = {t.name for t in ttft.data} - {"failed (no answer)"}
    assert len(models) == 4 and len(speed.data) == 4


def test_requests_page_sorts_pages_and_filters(seeded: tuple[Engine, Seeded]) -> None:
    newest = sorted(events(seeded), key=lambda e: e.started_at, reverse=True)
    rows, pages, label, page, _ = requests.update_table("", 1, None, None)
    assert [r["id"] for r in rows] == [e.id for e in newest[50:100]] and page == 1
    assert pages == -(-len(newest) // 50) and label == f"{len(newest):,} matching requests"
    oldest = [{"column_id": "started_at", "direction": "asc"}]
    rows, *_ = requests.update_table("", 0, oldest, None)
    assert rows[0]["id"] == newest[-1].id
    rows, _, label, page, _ = requests.update_table(
        "?outcome=client_error", 3, None, None, new_filters=True
    )
    client_errors = sum(e.outcome == "client_error" for e in events(seeded))
    assert page == 0 and {r["outcome"] for r in rows} == {"client_error"}
    assert label == f"{client_errors:,} matching requests"
    assert requests.sort_of([{"column_id": "model", "direction": "asc"}]) == ("started_at", True)
    dearest = [{"column_id": "cost_usd", "direction": "asc"}]  # a first click on Cost
    assert requests.sort_of(dearest) == ("cost_usd", True)
    cheapest = [{"column_id": "cost_usd", "direction": "desc"}]  # the second click
    assert requests.sort_of(cheapest) == ("cost_usd", False)
    assert rows[0]["short_id"] == "…" + rows[0]["id"][-8:]
    rows, *_ = requests.update_table("", 0, dearest, None)
    top = max(e.cost_usd for e in events(seeded) if e.cost_usd is not None)
    assert rows[0]["cost_usd"] == fmt.money(top)


def test_request_detail_opens_from_a_click_or_the_link(seeded: tuple[Engine, Seeded]) -> None:
    retried = next(e for e in events(seeded) if len(e.attempts) == 3)
    is_open, body, chosen, cell = requests.show_detail(
        requests.TABLE, {"row_id": retried.id}, False, ""
    )
    assert is_open is True and chosen == retried.id and cell is no_update
    assert "Attempts (3)" in text_of(body)
    from_link = requests.show_detail(ids.URL, None, False, f"?request={retried.id}")
    assert from_link[0] is True
    closed = requests.show_detail(requests.DETAIL, {"row_id": retried.id}, False, "")
    assert closed[3] is None  # closing clears the clicked cell so the row can open again
    missing = requests.show_detail(requests.TABLE, {"row_id": "NOPE"}, False, "")
    assert "No request with id NOPE" in text_of(missing[1])
    attempts_csv = requests.download_attempts(1, retried.id)
    assert attempts_csv["content"].count("\n") == 4  # header + three attempts
    tries = next(c for c in _components(body) if getattr(c, "id", None) == ATTEMPTS_TABLE).data
    first, second = retried.attempts[0], retried.attempts[1]
    assert tries[1]["started_at"] == f"{second.started_at:%Y-%m-%d %H:%M:%S.%f}"[:-3]
    gap = (second.started_at - first.started_at).total_seconds() * 1000 - first.duration_ms
    assert round(gap) == 250  # the seed's backoff, shown to the millisecond
    assert tries[0]["wait_ms"] == fmt.MISSING and tries[1]["wait_ms"] == fmt.duration_ms(gap)


def test_requests_csv_matches_the_filter(seeded: tuple[Engine, Seeded]) -> None:
    rows = list(csv.DictReader(io.StringIO(requests.download(1, "?outcome=blocked")["content"])))
    assert {r["id"] for r in rows} == {e.id for e in events(seeded) if e.outcome == "blocked"}


def test_budgets_page_states_and_burndown(seeded: tuple[Engine, Seeded]) -> None:
    _fig, rows, options, chosen = budgets.update("", None, None)
    assert [r["name"] for r in rows] == ["Checkout daily", "Company monthly", "Search monthly"]
    assert rows[0]["scope"] == "project: checkout"
    by_name = {o["label"]: o["value"] for o in options}
    assert chosen == by_name["Company monthly"]  # a daily budget has a one-point burn-down
    assert budgets.update("", None, options[2]["value"])[3] == options[2]["value"]
    burndown = budgets.update_burndown(options[1]["value"], None)
    cumulative = burndown.data[0].y
    assert list(cumulative) == sorted(cumulative) and cumulative[-1] > 0
    assert budgets.budget_state(Decimal(10), Decimal(11), Decimal(12)) == "Over budget"
    assert budgets.budget_state(Decimal(10), Decimal(5), Decimal(12)) == "Will exceed"
    assert budgets.budget_state(Decimal(10), Decimal(8), Decimal(9)) == "Near limit"
    assert budgets.budget_state(Decimal(10), Decimal(1), Decimal(2)) == "On track"


def test_shell_callbacks(seeded: tuple[Engine, Seeded]) -> None:
    projects, _keys, _users, models, tags = refresh_options(None, "?project=99")
    assert [p["label"] for p in projects] == ["checkout", "search", "tools", "#99"]
    assert UNPRICED_MODEL in [m["value"] for m in models]
    assert "team=checkout" in [t["value"] for t in tags]
    on_load = on_filters(None, "?model=gone-model", "7d", [], [], [], [], [])
    assert on_load[5] == ["gone-model"]  # the value, and an option that holds it
    assert {"label": "gone-model", "value": "gone-model"} in on_load[10]
    on_change = on_filters(ids.MODELS, "", "7d", [], [], [], ["o3"], [])
    assert on_change[0] == "?model=o3" and on_change[7:] == [no_update] * 5
    hrefs_active = nav_state("/spend", "?range=30d")
    assert hrefs_active[1] == "/spend?range=30d" and hrefs_active[len(PAGES) + 1] is True
    assert range_text("?from=2026-11-01&to=2026-11-03") == "Nov 01 – Nov 03, 2026 · UTC"


def test_spend_savings_batch_figures_are_exact(seeded: tuple[Engine, Seeded]) -> None:
    """Per batch request: its standard price (the cost engine) minus what it paid, summed."""
    from collector.pricing import compute_cost
    from collector.usage import Usage
    from dashboard.pages import _spend_savings
    from dashboard.pages._common import view

    f = view("").filters
    batch = [e for e in events(seeded) if e.batch and f.start <= e.started_at < f.end]
    assert batch  # the seed has some

    def standard(e: Any) -> Decimal:
        usage = Usage(e.prompt_tokens, e.completion_tokens, e.cached_tokens)
        cost = compute_cost(usage, e.model_served, e.started_at).cost_usd
        assert cost is not None
        return cost

    paid = sum((e.cost_usd for e in batch), Decimal(0))
    saved = sum((standard(e) for e in batch), Decimal(0)) - paid
    df = _spend_savings.frame("")
    assert df.loc[df["kind"] == "batch", "paid_usd"].sum() == paid
    fig, totals, rows = _spend_savings.update("", None)
    assert {t.name for t in fig.data} == {"cached tokens", "Batch API"}
    assert "saved" in text_of(totals) and "Batch API $" in text_of(totals)
    assert {r["kind"] for r in rows} == {"cached tokens", "Batch API"}
    payload = _spend_savings.download(1, "")
    csv_rows = list(csv.DictReader(io.StringIO(payload["content"])))
    assert sum(Decimal(r["saved_usd"]) for r in csv_rows if r["kind"] == "batch") == saved
    assert payload["filename"].startswith("spendscope-savings-")


def test_spend_savings_show_response_cache_hits(seeded: tuple[Engine, Seeded]) -> None:
    from collector.recorder import write_batch
    from dashboard.pages import _spend_savings
    from dashboard.pages._common import view
    from tests.factories import make_event

    f = view("").filters
    at = next(e.started_at for e in events(seeded) if f.start <= e.started_at < f.end)
    hits = [
        make_event(
            started_at=at,
            model_served="gpt-4o-mini",
            outcome="cache_hit",
            cache_hit=True,
            cost_usd=Decimal(0),
            saved_usd=Decimal("0.25"),
        )
        for _ in range(2)
    ]
    assert write_batch(seeded[0], hits) == 2
    fig, totals, rows = _spend_savings.update("", None)
    assert "response cache" in {t.name for t in fig.data}
    assert "response cache $0.50" in text_of(totals)
    (row,) = [r for r in rows if r["kind"] == "response cache"]
    assert (row["model"], row["requests"]) == ("gpt-4o-mini", "2")


def test_spend_savings_of_an_unpriced_model_are_named_not_summed(
    seeded: tuple[Engine, Seeded],
) -> None:
    from dashboard.pages import _spend_savings

    _fig, totals, rows = _spend_savings.update("", None)
    assert f"not counted (no price): {UNPRICED_MODEL}" in text_of(totals)
    (row,) = [r for r in rows if r["model"] == UNPRICED_MODEL]
    assert row["saved_usd"] == "—"  # unknown, never $0


def test_spend_savings_empty_state_says_what_to_do(seeded: tuple[Engine, Seeded]) -> None:
    from dashboard.pages import _spend_savings

    fig, totals, rows = _spend_savings.update("?range=1d&project=999", None)
    assert "Batch API" in fig.layout.annotations[0].text and totals == [] and rows == []
    fig, totals, rows = _spend_savings.update("?tag=team%3Dcheckout", None)
    assert "tag" in fig.layout.annotations[0].text and totals == [] and rows == []
    assert _spend_savings.download(1, "?tag=team%3Dcheckout") is no_update


def test_alert_history_table_pages_and_downloads(seeded: tuple[Engine, Seeded]) -> None:
    from dashboard.pages import _alert_history

    rows, pages, empty, tips = _alert_history.update(0, None)
    assert pages == 1 and empty is None and len(tips) == 3
    assert [(r["rule"], r["state"]) for r in rows] == [
        ("Fast error-budget burn", "resolved"),
        ("Checkout daily budget", "firing"),
        ("Checkout daily budget", "firing"),
    ]
    assert rows[1]["threshold"] == "100 %" and "webhook failed: HTTP 503" in rows[1]["delivery"]
    assert rows[0]["period"] == "1h/5m" and rows[0]["resolved_at"] != "—"
    payload = _alert_history.download(1, "")
    assert len(list(csv.DictReader(io.StringIO(payload["content"])))) == 3
    assert payload["filename"].startswith("spendscope-alerts-")


def test_alert_history_empty_state_says_what_to_do(seeded: tuple[Engine, Seeded]) -> None:
    from sqlalchemy import delete

    from collector.db import AlertEvent
    from dashboard.pages import _alert_history

    with seeded[0].begin() as conn:
        conn.execute(delete(AlertEvent))
    rows, pages, empty, _tips = _alert_history.update(0, None)
    assert rows == [] and pages == 1
    assert "spendscope alerts add" in text_of(empty)


def test_reconciliation_page_callbacks(app: Any, seeded: tuple[Any, Seeded]) -> None:
    """The page's data over the seed's bill: the planted price drift and bypass key."""
    from dashboard.pages import reconciliation

    with app.server.test_request_context("/"):
        stats, fig, diffs, unmetered = reconciliation.update("?range=7d", None)
        download = reconciliation.download(1, "?range=7d")
        lines = reconciliation.current("?range=7d").lines
    assert len(stats) == 4 and "$2.50" in str(stats[3])
    assert [t.name for t in fig.data] == [
        "billed (gateway keys)", "metered", "unmetered (other keys)"
    ]  # fmt: skip
    assert diffs[0]["group"] == "gpt-4o-2024-08-06" and diffs[0]["kind"] == "price"
    assert [u["api_key_id"] for u in unmetered] == ["key_bypass"]
    assert download["filename"].startswith("spendscope-reconciliation-")
    assert download["content"].count("\r\n") == len(lines) + 1
