"""No value a client sends can keep its request out of the ledger (issue 16, rows 1 and 3).

Each request the gateway answered must be a row of ``requests`` — with its money, and with
what had to be changed marked — on SQLite and PostgreSQL, and ``/healthz`` may say ``ok``
only once every one of them is written.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.faults._harness import (
    LONE_HIGH,
    LONE_LOW,
    MODEL,
    GatewayFactory,
    Outage,
    Request,
    Running,
    eventually,
    loss_report,
    normal_request,
    send_each,
    settle,
    stored_ids,
    stored_rows,
)

pytestmark = pytest.mark.faults

MARKERS = ("truncat", "sanitiz", "sanitis", "changed", "dropped", "too deep", "depth")


def deep(levels: int) -> str:
    """``{"a":[[[…]]]}`` nested ``levels`` deep: 2 × levels + 6 bytes."""
    return '{"a":' + "[" * levels + "]" * levels + "}"


def with_headers(request: Request, **headers: Any) -> Request:
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return request | {"extra_headers": named}


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def marked_as_changed(row: dict[str, Any]) -> bool:
    """The row shows that its metadata was changed: a marker in the value or a flag column."""
    if any(m in _as_text(row.get("metadata")).lower() for m in MARKERS):
        return True
    return any(bool(v) for k, v in row.items() if any(m in k.lower() for m in MARKERS))


def send_and_settle(run: Running, requests: list[Request]) -> list[str]:
    """Send one after another, wait for ``/healthz`` to settle, assert none was lost."""
    result, ids = send_each(run.gateway.base_url, run.key, requests)
    assert all(ids), f"a request got no answer with a request id: {dict(result.statuses)}"
    settlement = settle(run.gateway, run.rows_url, result.answered, 20)
    assert not settlement.missing, loss_report(result, settlement)
    assert settlement.settled and settlement.missing_when_settled == 0, (
        f"/healthz said nothing pending while {settlement.missing_when_settled} rows were "
        f"missing, or never settled: {settlement.health}"
    )
    return ids


def test_deep_metadata_then_normal_requests_are_all_stored(start_gateway: GatewayFactory) -> None:
    run = start_gateway()
    header = deep(1000)
    assert len(header.encode()) < 4096
    poison = with_headers(normal_request(), x_spendscope_metadata=header)
    ids = send_and_settle(run, [poison] + [normal_request() for _ in range(5)])
    row = stored_rows(run.rows_url, {ids[0]})[ids[0]]
    assert row["http_status"] == 200
    assert row["cost_usd"] is not None and Decimal(str(row["cost_usd"])) > 0, row
    assert marked_as_changed(row), f"metadata changed without a mark: {row['metadata']!r}"


def test_deep_metadata_during_a_database_outage_is_stored_after_it(
    start_gateway: GatewayFactory, outage: Outage
) -> None:
    run = start_gateway(outage=outage)
    warm, _ = send_each(run.gateway.base_url, run.key, [normal_request()])  # caches the key
    assert eventually(lambda: warm.answered <= stored_ids(run.rows_url), 20)
    outage.cut()
    try:
        poison = with_headers(normal_request(), x_spendscope_metadata=deep(300))
        result, ids = send_each(
            run.gateway.base_url, run.key, [poison] + [normal_request() for _ in range(5)]
        )
        assert all(ids), dict(result.statuses)
        degraded = eventually(lambda: (run.gateway.health() or {}).get("status") == "degraded", 10)
        assert degraded, f"/healthz during the outage: {run.gateway.health()}"
    finally:
        outage.restore()
    settlement = settle(run.gateway, run.rows_url, result.answered, 30)
    assert not settlement.missing, loss_report(result, settlement)
    assert settlement.settled, f"/healthz never settled: {settlement.health}"


NUL_AND_LONG: dict[str, Request] = {
    "body user with NUL": normal_request() | {"user": "al\x00ice"},
    "header user, overlong-UTF-8 NUL": with_headers(
        normal_request(), x_spendscope_user=b"al\xc0\x80ice"
    ),
    "metadata string with NUL": with_headers(
        normal_request(), x_spendscope_metadata='{"who": "al\\u0000ice"}'
    ),
    "model with NUL": normal_request() | {"model": f"{MODEL}\x00x"},
    "model of 300 characters": normal_request() | {"model": f"{MODEL}-" + "x" * 288},
}


def test_nul_and_overlong_values_are_stored_not_quarantined(
    start_gateway: GatewayFactory,
) -> None:
    """Each case, then a normal request, through one gateway: every one a row of its own."""
    run = start_gateway()
    cases = sorted(NUL_AND_LONG)
    requests = [r for case in cases for r in (NUL_AND_LONG[case], normal_request())]
    ids = send_and_settle(run, requests)
    rows = stored_rows(run.rows_url, set(ids))
    for case, rid in zip(cases, ids[::2], strict=True):
        row = rows[rid]
        if row["http_status"] == 200 and NUL_AND_LONG[case]["model"] == MODEL:
            assert row["cost_usd"] is not None and Decimal(str(row["cost_usd"])) > 0, (case, row)
        else:  # an unknown model is unpriced, never a silent $0
            assert row["cost_usd"] is None or Decimal(str(row["cost_usd"])) > 0, (case, row)


def _poison_cases() -> dict[str, Request]:
    """A poison value for each column a client controls (strings, JSON objects)."""
    plain = normal_request()
    many_tags = ",".join(f"k{i}=v{i}" for i in range(600))
    return {
        "user header 5000 chars": with_headers(plain, x_spendscope_user="u" * 5000),
        "user header latin-1 bytes": with_headers(plain, x_spendscope_user=b"\xe9\xff\x80"),
        "user body lone surrogate": plain | {"user": f"a{LONE_HIGH}b"},
        "user body 20000 chars": plain | {"user": "u" * 20000},
        "user body odd unicode": plain | {"user": "\u202e\u200b\U0001f600\ufeff\ufffe"},
        "tags 600 of them": with_headers(plain, x_spendscope_tags=many_tags),
        "tags utf-8 bytes": with_headers(plain, x_spendscope_tags="ключ=значение,😀=1".encode()),
        "tags odd syntax": with_headers(plain, x_spendscope_tags="=,==,a==b,,k=" + "v" * 3000),
        "metadata lone surrogate": with_headers(
            plain, x_spendscope_metadata='{"k": "\\ud800", "\\udfff": 1}'
        ),
        "metadata NaN and Infinity": with_headers(
            plain, x_spendscope_metadata='{"x": NaN, "y": Infinity, "z": -Infinity}'
        ),
        "metadata huge numbers": with_headers(
            plain, x_spendscope_metadata='{"big": 1' + "0" * 400 + ', "e": 1e400}'
        ),
        "metadata not an object": with_headers(plain, x_spendscope_metadata="[1, 2, 3]"),
        "metadata invalid JSON": with_headers(plain, x_spendscope_metadata='{"a": 1'),
        "metadata long key": with_headers(
            plain, x_spendscope_metadata=json.dumps({"k" * 3000: "v" * 900})
        ),
        "model lone surrogate": plain | {"model": f"{MODEL}{LONE_LOW}"},
        "model 5000 chars": plain | {"model": "m" * 5000},
        "model odd unicode": plain | {"model": f"{MODEL}\u202e\U0001f600\x7f"},
    }


def _all_in_one(cases: dict[str, Request]) -> Request:
    merged: Request = {}
    headers: dict[str, Any] = {}
    for request in cases.values():
        headers |= request.get("extra_headers", {})
        merged |= {k: v for k, v in request.items() if k != "extra_headers"}
    return merged | {"extra_headers": headers}


def test_a_poison_value_of_every_column_type_is_stored(start_gateway: GatewayFactory) -> None:
    run = start_gateway()
    cases = _poison_cases()
    names = [*cases, "all in one request"]
    requests = [*cases.values(), _all_in_one(cases)]
    result, ids = send_each(run.gateway.base_url, run.key, requests)
    unanswered = [name for name, rid in zip(names, ids, strict=True) if not rid]
    # Refusing a request outright (4xx, no request id) makes no promise; 2xx and 5xx do.
    refused = sum(n for status, n in result.statuses.items() if 400 <= status < 500)
    assert len(unanswered) <= refused, f"no request id for {unanswered}: {result.statuses}"
    settlement = settle(run.gateway, run.rows_url, result.answered, 30)
    lost = [name for name, rid in zip(names, ids, strict=True) if rid in settlement.missing]
    assert not lost, f"not stored: {lost}; " + loss_report(result, settlement)
    assert settlement.settled and settlement.missing_when_settled == 0, settlement.health
