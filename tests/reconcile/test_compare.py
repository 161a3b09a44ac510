"""The comparison as a pure function: each kind of difference, with exact figures."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from collector.reconcile import (
    BillItem,
    GroupBy,
    LineKind,
    MeteredLine,
    Ownership,
    Tokens,
    ownership,
    reconcile,
)
from collector.settings import load_settings

DAY = date(2026, 11, 3)
OURS = Ownership({"default": "key_gw"})


def _bill(usd: str, tokens: Tokens, key: str = "key_gw", model: str = "gpt-4o") -> list[BillItem]:
    return [
        BillItem(DAY, "costs", f"{model}, input", model, "proj_a", key, billed_usd=Decimal(usd)),
        BillItem(DAY, "completions", "completions", model, "proj_a", key,
                 input_tokens=tokens.input, input_cached_tokens=tokens.cached,
                 output_tokens=tokens.output, requests=2),
    ]  # fmt: skip


def _meter(usd: str, tokens: Tokens, model: str = "gpt-4o") -> MeteredLine:
    return MeteredLine(DAY, model, "default", Decimal(usd), tokens, 2)


def test_price_drift_names_the_implied_rate() -> None:
    t = Tokens(1_000_000, 0, 1_000_000)
    rec = reconcile(DAY, DAY, _bill("13.75", t), [_meter("12.50", t)], OURS)
    [line] = rec.lines
    assert line.kind is LineKind.PRICE and line.difference_usd == Decimal("1.25")
    assert "$6.8750 per 1M tokens against the catalog's $6.2500" in line.explanation
    assert rec.totals.coverage == Decimal("12.50") / Decimal("13.75")


def test_missing_requests_say_which_side() -> None:
    billed = reconcile(DAY, DAY, _bill("2", Tokens(300, 0, 30)), [_meter("1", Tokens(100, 0, 10))],
                       OURS)  # fmt: skip
    assert billed.lines[0].kind is LineKind.TOKENS
    assert "OpenAI billed 220 more tokens" in billed.lines[0].explanation
    assert "missing from spendscope" in billed.lines[0].explanation
    metered = reconcile(DAY, DAY, [], [_meter("1", Tokens(100, 0, 10))], OURS)
    assert "missing from OpenAI's bill" in metered.lines[0].explanation


def test_estimated_requests_are_named_in_the_explanation() -> None:
    line = MeteredLine(DAY, "gpt-4o", "default", Decimal("1"), Tokens(100, 0, 10), 2,
                       estimated_requests=1)  # fmt: skip
    rec = reconcile(DAY, DAY, _bill("2", Tokens(300, 0, 30)), [line], OURS)
    assert "; 1 request(s) estimated in spendscope (its own token count" in rec.lines[0].explanation
    exact = reconcile(DAY, DAY, _bill("2", Tokens(300, 0, 30)), [_meter("1", Tokens(100, 0, 10))],
                      OURS)  # fmt: skip
    assert "estimated" not in exact.lines[0].explanation


def test_unmetered_is_spend_under_other_keys_or_projects() -> None:
    t = Tokens(10, 0, 5)
    bill = _bill("1", t) + _bill("0.5", t, key="key_other")
    rec = reconcile(DAY, DAY, bill, [_meter("1", t)], OURS)
    assert [(u.api_key_id, u.billed_usd) for u in rec.unmetered] == [("key_other", Decimal("0.5"))]
    assert rec.totals.coverage == 1 and rec.totals.difference_usd == 0
    by_project = reconcile(DAY, DAY, bill, [_meter("1", t)], Ownership({}, frozenset({"proj_b"})))
    assert by_project.totals.unmetered_usd == Decimal("1.5")
    unknown = reconcile(DAY, DAY, bill, [_meter("1", t)], Ownership())
    assert unknown.unmetered == () and "not configured" in unknown.notes[0]


def test_group_by_key_maps_upstreams_to_key_ids() -> None:
    t = Tokens(10, 0, 5)
    rec = reconcile(DAY, DAY, _bill("1", t), [_meter("1", t)], OURS, GroupBy.API_KEY)
    assert [(x.group, x.kind) for x in rec.lines] == [("key_gw", LineKind.MATCH)]


def test_lines_with_nothing_on_either_side_are_left_out() -> None:
    refused = MeteredLine(DAY, "gtp-4o-mini", "default", Decimal(0), Tokens(), 0)
    rec = reconcile(DAY, DAY, [], [refused], OURS)
    assert rec.lines == () and rec.totals.coverage is None


def test_every_key_id_of_a_rotating_upstream_is_the_gateways() -> None:
    t = Tokens(10, 0, 5)
    bill = _bill("1", t) + _bill("0.5", t, key="key_gw2") + _bill("0.25", t, key="key_other")
    both = Ownership({"default": ["key_gw", "key_gw2"]})
    rec = reconcile(DAY, DAY, bill, [_meter("1.5", Tokens(20, 0, 10))], both)
    assert [(u.api_key_id, u.billed_usd) for u in rec.unmetered] == [("key_other", Decimal("0.25"))]
    assert rec.totals.unmetered_usd == Decimal("0.25") and rec.totals.difference_usd == 0
    by_key = reconcile(DAY, DAY, bill, [_meter("1.5", Tokens(20, 0, 10))], both, GroupBy.API_KEY)
    assert [(x.group, x.kind) for x in by_key.lines] == [("key_gw+key_gw2", LineKind.MATCH)]


def test_openai_key_ids_setting_takes_one_id_or_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = '{"default": ["key_a", "key_b"], "azure": "key_c"}'
    monkeypatch.setenv("SPENDSCOPE_OPENAI_KEY_IDS", raw)
    owners = ownership(load_settings())
    assert owners.ids("default") == ("key_a", "key_b") and owners.ids("azure") == ("key_c",)
    assert owners.owns("key_b", "") and not owners.owns("key_d", "")
