"""The admin API creates the early-warning rule kinds and refuses bad parameters with a 400."""

from __future__ import annotations

from typing import Any

import httpx

from tests.gateway._support import Gateway, GatewayFactory

ADMIN = "admin-token-0123456789"
FILE = [{"kind": "file", "target": "alerts.jsonl"}]


def _rule(name: str, kind: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "kind": kind, "scope": "project:acme", "params": params, "channels": FILE}


def test_anomaly_and_exhaustion_rules_over_http(make_gateway: GatewayFactory) -> None:
    gw: Gateway = make_gateway(admin_token=ADMIN)
    root = gw.base_url.removesuffix("/v1")
    with httpx.Client(base_url=root, headers={"authorization": f"Bearer {ADMIN}"}) as api:
        bad = api.post("/api/alerts/rules", json=_rule("a", "spend_anomaly", per="team"))
        assert bad.status_code == 400
        assert "bad per 'team'" in bad.json()["error"]["message"]
        bad = api.post("/api/alerts/rules", json=_rule("b", "budget_exhaustion", margin="0d"))
        assert bad.status_code == 400 and "bad window" in bad.json()["error"]["message"]
        ok = api.post("/api/alerts/rules", json=_rule("c", "spend_anomaly", per="user", weeks=8))
        assert ok.status_code == 201, ok.text
        ok = api.post("/api/alerts/rules", json=_rule("d", "budget_exhaustion", margin="3d"))
        assert ok.status_code == 201, ok.text
        rules = {r["name"]: r for r in api.get("/api/alerts/rules").json()}
        assert rules["c"]["params"]["weeks"] == 8 and rules["c"]["params"]["window"] == "1h"
        assert rules["d"]["params"] == {"budget": None, "margin": "3d", "rate_window": "24h"}
