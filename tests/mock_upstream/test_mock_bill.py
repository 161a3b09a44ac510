"""The mock's Costs and Usage APIs: OpenAI's shapes, exact amounts, pagination, admin auth,
and the scripted drift (bypass key, another price, a missing day)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from collector.mock_upstream import MockConfig, run_in_thread
from collector.mock_upstream._ledger import BYPASS_KEY_ID, mock_key_id
from collector.pricing import compute_cost
from collector.usage import Usage
from tests.support.clock import clear_of_midnight, day_start

ADMIN = {"Authorization": "Bearer sk-admin-test"}


def _chat(url: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": "what does it cost"}]}
    auth = {"Authorization": "Bearer sk-upstream"}
    answer = httpx.post(f"{url}/chat/completions", json=body, headers=auth, timeout=30)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def _get(url: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, headers=ADMIN, timeout=30)


def _results(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for bucket in page["data"] for r in bucket["results"]]


def test_costs_and_usage_are_openais_shapes_and_exact(
    openapi: Callable[[Any, str], None],
) -> None:
    start = day_start(clear_of_midnight())
    with run_in_thread(MockConfig(admin_key="sk-admin-test")) as url:
        served = _chat(url)
        groups = ["project_id", "line_item", "api_key_id"]
        costs = _get(url, "/organization/costs", start_time=start, group_by=groups)
        usage = _get(url, "/organization/usage/completions", start_time=start,
                     group_by=["model", "api_key_id"])  # fmt: skip
    for answer in (costs, usage):
        assert answer.status_code == 200
        openapi(answer.json(), "UsageResponse")
    model = served["model"]
    cost = compute_cost(
        Usage(prompt_tokens=served["usage"]["prompt_tokens"],
              completion_tokens=served["usage"]["completion_tokens"]),
        model, datetime.now(UTC),
    )  # fmt: skip
    exact = _results(json.loads(costs.text, parse_float=Decimal))
    assert {r["line_item"] for r in exact} == {f"{model}, input", f"{model}, output"}
    assert sum(r["amount"]["value"] for r in exact) == cost.cost_usd
    assert {r["api_key_id"] for r in exact} == {mock_key_id("sk-upstream")}
    [row] = _results(usage.json())
    assert (row["model"], row["num_model_requests"]) == (model, 1)
    assert row["input_tokens"] == served["usage"]["prompt_tokens"]
    assert row["project_id"] is None  # not grouped by project: null, as OpenAI answers


def test_pages_follow_next_page_and_admin_auth_is_checked() -> None:
    start = day_start(clear_of_midnight())
    with run_in_thread(MockConfig(admin_key="sk-admin-test")) as url:
        first = _get(url, "/organization/costs", start_time=start - 9 * 86400, limit=7).json()
        assert len(first["data"]) == 7 and first["has_more"] is True
        second = _get(url, "/organization/costs", start_time=start - 9 * 86400, limit=7,
                      page=first["next_page"]).json()  # fmt: skip
        assert len(second["data"]) == 3 and second["has_more"] is False
        assert second["next_page"] is None
        bad = _get(url, "/organization/costs", start_time=start, page="nonsense")
        assert bad.status_code == 400
        wrong = httpx.get(f"{url}/organization/costs", params={"start_time": start},
                          headers={"Authorization": "Bearer sk-upstream"})  # fmt: skip
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


def test_scripted_drift() -> None:
    now = clear_of_midnight()
    day, start = now.date(), day_start(now)
    config = MockConfig(
        bypass_tokens=8000, price_drift=("gpt-4o-2024", "2"),
        missing_days=((day - timedelta(days=1)).isoformat(),),
    )  # fmt: skip
    with run_in_thread(config) as url:
        served = _chat(url, "gpt-4o")
        page = _get(url, "/organization/costs", start_time=start - 86400,
                    group_by=["api_key_id", "line_item"])  # fmt: skip
        yesterday, today = json.loads(page.text, parse_float=Decimal)["data"]
    assert yesterday["results"] == []  # the missing day
    by_key: dict[str, Decimal] = {}
    for r in today["results"]:
        by_key[r["api_key_id"]] = by_key.get(r["api_key_id"], Decimal(0)) + r["amount"]["value"]
    usage = Usage(prompt_tokens=served["usage"]["prompt_tokens"],
                  completion_tokens=served["usage"]["completion_tokens"])  # fmt: skip
    catalog = compute_cost(usage, served["model"], datetime.now(UTC)).cost_usd
    assert catalog is not None and by_key[mock_key_id("sk-upstream")] == 2 * catalog
    noon = datetime.combine(day, time(12), UTC)
    bypass_usage = Usage(prompt_tokens=8000, completion_tokens=2000)
    bypass = compute_cost(bypass_usage, "gpt-4o-mini-2024-07-18", noon)
    assert by_key[BYPASS_KEY_ID] == bypass.cost_usd
