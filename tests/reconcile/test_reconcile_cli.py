"""``spendscope reconcile`` end to end: the openai SDK → gateway → mock upstream, whose ledger
answers the Costs and Usage APIs; each kind of difference is planted by the mock's drift."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from collector.db import BillLine
from collector.mock_upstream._ledger import BYPASS_KEY_ID, BYPASS_MODEL
from collector.pricing import compute_cost
from collector.usage import Usage
from tests.reconcile.conftest import GATEWAY_KEY_ID, Stack, StackFactory


def _traffic(s: Stack) -> dict[str, Any]:
    """A few priced requests on two models and the embeddings endpoint; what was recorded."""
    client = s.gateway.client()
    for n in range(3):
        messages = [{"role": "user", "content": f"question {n} about invoices"}]
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a longer question"}]
    )
    client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    rows = s.gateway.requests()
    assert len(rows) == 5 and all(r.cost_source == "computed" for r in rows)
    return {"metered": sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0)), "rows": rows}


def _today() -> date:
    return datetime.now(UTC).date()


def _json(s: Stack, *args: str, **env: str) -> dict[str, Any]:
    code, out, err = s.reconcile(*args, "--json", **env)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_a_clean_bill_reconciles_to_100_percent(stack: StackFactory) -> None:
    s = stack()
    seen = _traffic(s)
    day = _today().isoformat()
    out = _json(s, "--from", day, "--to", day)
    metered = seen["metered"].quantize(Decimal("1e-10"))
    assert out["totals"] == {
        "billed_usd": str(metered), "metered_usd": str(metered), "difference_usd": "0.0000000000",
        "coverage": "1.000000", "unmetered_usd": "0.0000000000",
    }  # fmt: skip
    assert [d["date"] for d in out["days"]] == [day]
    models = {line["model"]: line for line in out["lines"]}
    assert set(models) == {r.model_served for r in seen["rows"]}
    assert {line["kind"] for line in out["lines"]} == {"match"}
    mini = models["gpt-4o-mini-2024-07-18"]
    rows = [r for r in seen["rows"] if r.model_served == "gpt-4o-mini-2024-07-18"]
    assert mini["billed_tokens"] == mini["metered_tokens"]
    assert mini["billed_tokens"]["input"] == sum(r.prompt_tokens for r in rows)
    assert mini["metered_requests"] == mini["billed_requests"] == 3
    assert out["unmetered"] == [] and out["notes"] == []


def test_each_planted_difference_is_named(stack: StackFactory) -> None:
    s = stack(bypass_tokens=40_000, price_drift=("gpt-4o-2024", "1.1"))
    seen = _traffic(s)
    day = _today()
    out = _json(s, "--from", day.isoformat(), "--to", day.isoformat())
    # unmetered: the bypass key's spend, priced by the catalog independently of the mock
    usage = Usage(prompt_tokens=40_000, completion_tokens=10_000)
    bypass = compute_cost(usage, BYPASS_MODEL, datetime.combine(day, time(12), tzinfo=UTC))
    assert bypass.cost_usd is not None
    [unmetered] = out["unmetered"]
    assert unmetered["api_key_id"] == BYPASS_KEY_ID
    assert Decimal(unmetered["billed_usd"]) == bypass.cost_usd
    assert unmetered["tokens"] == {"input": 40_000, "cached": 0, "output": 10_000}
    assert Decimal(out["totals"]["unmetered_usd"]) == bypass.cost_usd
    # price drift: same tokens, gpt-4o billed at 1.1x the catalog
    lines = {line["model"]: line for line in out["lines"]}
    drift = lines["gpt-4o-2024-08-06"]
    assert drift["kind"] == "price" and drift["billed_tokens"] == drift["metered_tokens"]
    assert Decimal(drift["billed_usd"]) == Decimal(drift["metered_usd"]) * Decimal("1.1")
    assert "gpt-4o-2024-08-06" in drift["explanation"] and "implied rate" in drift["explanation"]
    assert lines["gpt-4o-mini-2024-07-18"]["kind"] == "match"
    gateway_billed = Decimal(out["totals"]["billed_usd"]) - bypass.cost_usd
    assert Decimal(out["totals"]["difference_usd"]) == gateway_billed - seen["metered"]
    assert Decimal(out["totals"]["coverage"]) < 1


def test_a_day_missing_from_the_bill_names_its_day_and_models(stack: StackFactory) -> None:
    day = _today()
    s = stack(missing_days=(day.isoformat(),))
    seen = _traffic(s)
    out = _json(s, "--from", (day - timedelta(days=1)).isoformat(), "--to", day.isoformat())
    assert out["totals"]["billed_usd"] == "0.0000000000"
    assert Decimal(out["totals"]["metered_usd"]) == seen["metered"]
    assert out["totals"]["coverage"] is None
    assert {line["kind"] for line in out["lines"]} == {"tokens"}
    text = " ".join(line["explanation"] for line in out["lines"])
    assert f"{day}: model 'gpt-4o-mini-2024-07-18'" in text
    assert "missing from OpenAI's bill" in text


def test_group_by_key_and_project_learns_the_project_from_usage(stack: StackFactory) -> None:
    s = stack(bypass_tokens=1000)
    _traffic(s)
    day = _today().isoformat()
    by_key = _json(s, "--from", day, "--to", day, "--group-by", "api_key")
    assert [(x["api_key"], x["kind"]) for x in by_key["lines"]] == [(GATEWAY_KEY_ID, "match")]
    by_project = _json(s, "--from", day, "--to", day, "--group-by", "project")
    assert [(x["project"], x["kind"]) for x in by_project["lines"]] == [("proj_mock", "match")]


def test_a_range_without_traffic(stack: StackFactory) -> None:
    s = stack()
    out = _json(s, "--from", "2026-01-01", "--to", "2026-01-03")
    assert [d["date"] for d in out["days"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert all(d["billed_usd"] == d["metered_usd"] == "0.0000000000" for d in out["days"])
    assert out["lines"] == [] and out["unmetered"] == []
    code, text, _ = s.reconcile("--from", "2026-01-01", "--to", "2026-01-03")
    assert code == 0 and "every model line matches" in text


def _stored(s: Stack) -> list[tuple[Any, ...]]:
    with s.gateway.engine.connect() as conn:
        cols = (BillLine.day, BillLine.source, BillLine.line_item, BillLine.api_key_id,
                BillLine.billed_usd, BillLine.input_tokens, BillLine.requests)  # fmt: skip
        return sorted((tuple(row) for row in conn.execute(select(*cols))), key=str)


def test_refetching_a_day_replaces_it_exactly(stack: StackFactory) -> None:
    s = stack()
    _traffic(s)
    day = _today().isoformat()
    _json(s, "--from", day, "--to", day)
    first = _stored(s)
    _json(s, "--from", day, "--to", day)
    assert _stored(s) == first  # no duplicates
    s.gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one more"}]
    )
    s.gateway.requests()
    out = _json(s, "--from", day, "--to", day)
    assert out["totals"]["coverage"] == "1.000000"
    again = _stored(s)
    assert len(again) == len(first)  # same lines, new figures: replaced, not added
    assert sum(r[-1] for r in again) == sum(r[-1] for r in first) + 1


def test_errors_are_one_line_exit_1_and_store_nothing(stack: StackFactory) -> None:
    day = _today().isoformat()
    cases = {
        ("401",): "OpenAI refused the admin key (HTTP 401)",
        ("500",) * 5: "failed with HTTP 500",
        ("ok", "ok", "malformed"): "malformed JSON",
    }
    for n, (faults, message) in enumerate(cases.items()):
        s = stack(admin_faults=faults)
        if n == 0:
            _traffic(s)  # recorded once: the stacks share the database
        code, out, err = s.reconcile("--from", day, "--to", day)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and message in err, err
        assert "Traceback" not in err and "sk-admin" not in err
        assert _stored(s) == []
    code, _, err = s.reconcile("--from", day, "--to", day, SPENDSCOPE_OPENAI_ADMIN_KEY="")
    assert code == 1 and "SPENDSCOPE_OPENAI_ADMIN_KEY" in err


def test_a_failed_refetch_keeps_the_stored_day(stack: StackFactory) -> None:
    s = stack(admin_faults=("ok",) * 8 + ("500",) * 5)
    _traffic(s)
    day = _today().isoformat()
    _json(s, "--from", day, "--to", day)  # 8 calls: costs + seven usage endpoints
    before = _stored(s)
    assert before
    code, _, _ = s.reconcile("--from", day, "--to", day)
    assert code == 1 and _stored(s) == before


def test_bad_flags_are_one_line(stack: StackFactory) -> None:
    s = stack()
    for args, text in (
        (("--from", "2026-13-01", "--to", "2026-12-01"), "--from must be a date"),
        (("--from", "2026-12-02", "--to", "2026-12-01"), "is before --from"),
        (("--from", "2026-12-01", "--to", "2026-12-01", "--group-by", "user"), "--group-by"),
    ):
        code, _, err = s.reconcile(*args)
        assert code == 2 and text in err and err.count("\n") == 1
    with s.gateway.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BillLine)) == 0


def test_tool_call_fees_are_on_the_bill(stack: StackFactory) -> None:
    s = stack()
    client = s.gateway.client()
    client.responses.create(
        model="gpt-5", input="Look it up, compute it and draw it.",
        tools=[{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]},
               {"type": "code_interpreter", "container": {"type": "auto"}},
               {"type": "image_generation", "quality": "low", "size": "1024x1024"}],
        extra_headers={"x-mock-tool-calls": "2"},
    )  # fmt: skip
    client.responses.create(model="gpt-5", input="Search again.", tools=[{"type": "web_search"}])
    client.chat.completions.create(  # a search model: one web search a request
        model="gpt-4o-search-preview", messages=[{"role": "user", "content": "news?"}]
    )
    rows = s.gateway.requests()
    assert sum(r.web_search_preview_calls for r in rows) == 1
    assert sum(r.web_search_calls for r in rows) == 3
    assert sum(r.image_generation_calls for r in rows) == 2
    metered = sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0))
    day = _today().isoformat()
    out = _json(s, "--from", day, "--to", day)
    assert out["totals"]["billed_usd"] == out["totals"]["metered_usd"] == str(metered)
    assert out["totals"]["coverage"] == "1.000000"
    assert [line["kind"] for line in out["lines"]] == ["match", "match"]
    items = {row[2] for row in _stored(s) if row[1] == "costs"}
    assert {"gpt-5-2025-08-07, web search calls", "gpt-5-2025-08-07, file search calls",
            "gpt-5-2025-08-07, code interpreter calls",
            "gpt-5-2025-08-07, image generation calls",
            "gpt-4o-search-preview, web search preview calls"} <= items  # fmt: skip
