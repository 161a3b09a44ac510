"""The admin and report APIs on a real gateway: token auth, keys, budgets, alerts, reports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.gateway._support import Gateway, GatewayFactory

ADMIN = "admin-token-0123456789"
VIEWER = "viewer-token-0123456789"
TOKENS = {"admin_token": ADMIN, "viewer_tokens": f" other-viewer , {VIEWER} "}
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _api(gateway: Gateway, token: str | None = None) -> httpx.Client:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    root = gateway.base_url.removesuffix("/v1")
    return httpx.Client(base_url=root, headers=headers, timeout=30)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.fixture
def admin_gw(make_gateway: GatewayFactory) -> Gateway:
    return make_gateway(**TOKENS)


def test_unconfigured_api_answers_503_naming_the_variable(gateway: Gateway) -> None:
    with _api(gateway, "anything") as api:
        for response in (api.get("/api/keys"), api.post("/api/keys", json={"project": "p"})):
            error = _error(response, 503)
            assert "SPENDSCOPE_ADMIN_TOKEN" in error["message"]
            assert error["code"] == "admin_api_disabled"
        _error(api.get("/api/reports/chargeback", params={"month": "2026-11"}), 503)


@pytest.mark.parametrize(
    ("token", "read", "write"),
    [
        (None, 401, 401),
        ("wrong-token", 401, 401),
        (ADMIN + "x", 401, 401),
        (VIEWER, 200, 403),
        ("other-viewer", 200, 403),
        (ADMIN, 200, 201),
    ],
)
def test_auth_matrix(admin_gw: Gateway, token: str | None, read: int, write: int) -> None:
    with _api(admin_gw, token) as api:
        reads = [api.get(p) for p in ("/api/keys", "/api/budgets", "/api/alerts/rules")]
        reads.append(api.get("/api/alerts/events"))
        reads.append(api.get("/api/reports/chargeback", params={"month": "2026-11"}))
        assert [r.status_code for r in reads] == [read] * 5
        created = api.post("/api/keys", json={"project": "acme"})
        assert created.status_code == write, created.text
        deleted = api.delete("/api/budgets/nope")
    if read == 401:
        assert _error(reads[0], 401)["code"] == "invalid_api_key"
        assert reads[0].headers["www-authenticate"] == "Bearer"
    if write == 403:
        assert _error(created, 403)["code"] == "permission_denied"
    assert deleted.status_code == (404 if write == 201 else write)


def test_created_key_works_with_the_sdk_until_revoked(admin_gw: Gateway) -> None:
    with _api(admin_gw, ADMIN) as api:
        body = {"project": "web", "user": "u1", "tags": {"team": "search"}, "rpm": 100}
        created = api.post("/api/keys", json=body).json()
        reply = admin_gw.client(created["key"]).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        assert reply.choices[0].message.content
        row = admin_gw.only_request()
        assert (row.end_user, row.tags) == ("u1", {"team": "search"})
        listed = api.get("/api/keys", params={"project": "web"}).json()
        assert [(k["id"], k["prefix"], k["rpm"]) for k in listed] == [
            (created["id"], created["prefix"], 100)
        ]
        assert "key" not in listed[0] and created["key"].startswith(created["prefix"])
        revoked = api.delete(f"/api/keys/{created['prefix']}").json()
        assert revoked["revoked_at"] is not None
        _error(api.delete("/api/keys/sk-ss-nope"), 404)


def test_budget_crud_round_trip(gateway_on: GatewayFactory) -> None:
    gw = gateway_on(**TOKENS)
    with _api(gw, ADMIN) as api:
        body = {"scope": "project:acme", "period": "month", "amount_usd": "25.50", "mode": "hard"}
        created = api.post("/api/budgets", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["name"] == "project:acme month hard"
        name = created.json()["name"]
        _error(api.post("/api/budgets", json=body), 400)  # same name again
        patched = api.patch(
            f"/api/budgets/{name}", json={"amount_usd": 40, "thresholds": [80, 100], "name": "b1"}
        )
        assert patched.status_code == 200, patched.text
        (row,) = api.get("/api/budgets").json()
        assert (row["name"], row["amount_usd"], row["thresholds"]) == (
            "b1", "40.0000000000", [80, 100]
        )  # fmt: skip
        assert (row["spent_usd"], row["reserved_usd"], row["remaining_usd"]) == (
            "0.0000000000", "0.0000000000", "40.0000000000"
        )  # fmt: skip
        _error(api.patch(f"/api/budgets/{name}", json={"amount_usd": 1}), 404)
        assert api.delete("/api/budgets/b1").json() == {"deleted": "b1"}
        assert api.get("/api/budgets").json() == []
        _error(api.delete("/api/budgets/b1"), 404)


BUDGET = {"scope": "global", "period": "day", "amount_usd": "5"}


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/budgets", BUDGET | {"amount_usd": "-5"}, 400, "must be positive"),
        ("/api/budgets", BUDGET | {"amount_usd": -5}, 400, "must be positive"),
        ("/api/budgets", BUDGET | {"amount_usd": "lots"}, 400, "bad amount"),
        ("/api/budgets", BUDGET | {"scope": "team:x"}, 400, "unknown scope"),
        ("/api/budgets", BUDGET | {"scope": "tag:nokey"}, 400, "tag:KEY=VALUE"),
        ("/api/budgets", BUDGET | {"period": "fortnight"}, 400, "fortnight"),
        ("/api/budgets", BUDGET | {"thresholds": [80, 50]}, 400, "ascending"),
        ("/api/budgets", BUDGET | {"mode": "strict"}, 422, "body.mode"),
        ("/api/budgets", BUDGET | {"colour": "red"}, 422, "body.colour"),
        ("/api/budgets", {"scope": "global"}, 422, "body.period"),
        ("/api/keys", {"project": "p", "rpm": -1}, 422, "body.rpm"),
        ("/api/keys", {"project": "p", "tags": {"a": 1}}, 422, "body.tags.a"),
        ("/api/keys", {"project": ""}, 400, "project must be"),
        ("/api/alerts/rules", {"name": "r", "kind": "x", "channels": []}, 422, "channels"),
        (
            "/api/alerts/rules",
            {"name": "r", "kind": "nope", "channels": [{"kind": "file", "target": "a.jsonl"}]},
            400,
            "unknown rule kind",
        ),
        (
            "/api/alerts/rules",
            {"name": "r", "kind": "error_rate", "channels": [{"kind": "pager", "target": "x"}]},
            400,
            "unknown channel",
        ),
    ],
)
def test_bad_input_is_a_precise_4xx(
    admin_gw: Gateway, path: str, body: dict[str, Any], status: int, needle: str
) -> None:
    with _api(admin_gw, ADMIN) as api:
        error = _error(api.post(path, json=body), status)
    assert needle in error["message"]
    assert error["type"] == "invalid_request_error"


def test_bad_json_and_bad_query(admin_gw: Gateway) -> None:
    with _api(admin_gw, ADMIN) as api:
        raw = api.post(
            "/api/budgets", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert _error(raw, 400)["code"] == "invalid_json"
        error = _error(api.get("/api/alerts/events", params={"limit": 0}), 422)
        assert error["param"] == "limit"
        _error(api.get("/api/reports/chargeback", params={"month": "2026-1"}), 422)
        _error(api.get("/api/nothing-here"), 404)


def test_alert_rule_round_trip(admin_gw: Gateway, tmp_path: Path) -> None:
    target = str(tmp_path / "alerts.jsonl")
    rule = {
        "name": "errors",
        "kind": "error_rate",
        "scope": "project:acme",
        "channels": [{"kind": "file", "target": target}],
    }
    with _api(admin_gw, ADMIN) as api:
        assert api.post("/api/alerts/rules", json=rule).status_code == 201
        _error(api.post("/api/alerts/rules", json=rule), 400)  # duplicate name
        (listed,) = api.get("/api/alerts/rules").json()
        assert (listed["kind"], listed["scope"]) == ("error_rate", "project:acme")
        assert listed["channels"] == [f"file:{target}"]
        assert api.get("/api/alerts/events").json() == []
        assert api.delete("/api/alerts/rules/errors").json() == {"deleted": "errors"}
        _error(api.delete("/api/alerts/rules/errors"), 404)


def test_report_downloads_as_csv_for_a_viewer(admin_gw: Gateway) -> None:
    admin_gw.client().chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    admin_gw.server.flush()
    month = admin_gw.only_request().started_at.strftime("%Y-%m")
    with _api(admin_gw, VIEWER) as api:
        response = api.get("/api/reports/chargeback", params={"month": month, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert [line["group"] for line in lines] == ["acme", "(total)"]
