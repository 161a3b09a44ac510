"""``server.address``/``server.port`` name the upstream a request went to, resolved through
the upstream table at export time — not the exporter's endpoint, not the default upstream."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Engine

from collector.otel import attempt_attributes, request_attributes
from collector.recorder import AttemptEvent, write_batch
from collector.requestlog import RequestWithAttempts, requests_by_id
from tests.factories import T0, make_event

TABLE = {
    "default": "https://api.openai.com/v1",
    "eu": "http://127.0.0.1:8799/v1",
    "azure": "https://example.openai.azure.com/openai",
}


def _row(engine: Engine, upstream: str, outcome: str = "success") -> RequestWithAttempts:
    attempts = [
        AttemptEvent(1, T0, 10.0, upstream="default"),
        AttemptEvent(2, T0, 10.0, upstream=upstream),
    ]
    event = make_event(upstream=upstream, attempts=attempts, outcome=outcome)
    assert write_batch(engine, [event]) == 1
    [row] = requests_by_id(engine, [event.id])
    return row


def _server(attributes: Mapping[str, object]) -> tuple[object, object]:
    return attributes.get("server.address"), attributes.get("server.port")


def test_a_named_upstream_is_exported_with_its_own_address_and_port(engine: Engine) -> None:
    row = _row(engine, "eu")
    assert _server(request_attributes(row, TABLE)) == ("127.0.0.1", 8799)
    first, second = (attempt_attributes(row, a, TABLE) for a in row.attempts)
    assert _server(first) == ("api.openai.com", 443)  # the first try went to the default
    assert _server(second) == ("127.0.0.1", 8799)


def test_the_scheme_gives_the_port_when_the_url_has_none(engine: Engine) -> None:
    assert _server(request_attributes(_row(engine, "azure"), TABLE)) == (
        "example.openai.azure.com",
        443,
    )


def test_an_upstream_no_longer_configured_has_no_server_attributes(engine: Engine) -> None:
    """Removed from the settings since: better no address than the default's, which is wrong."""
    row = _row(engine, "retired")
    assert _server(request_attributes(row, TABLE)) == (None, None)
    assert request_attributes(row, TABLE)["spendscope.upstream"] == "retired"


def test_a_cache_hit_names_no_server(engine: Engine) -> None:
    """A hit keeps the upstream that served the answer it replayed, but sent nothing there."""
    row = _row(engine, "eu", outcome="cache_hit")
    assert _server(request_attributes(row, TABLE)) == (None, None)
    assert request_attributes(row, TABLE)["spendscope.upstream"] == "eu"
