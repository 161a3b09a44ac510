"""Row 4: secrets are masked wherever settings or errors are shown, URL passwords included."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from collector.cli import app
from collector.cli.common import fail
from collector.secrets import install_log_redaction

PASSWORD = "Pg-s3cret-Pw"
URLS = {
    "SPENDSCOPE_DATABASE_URL": f"postgresql+psycopg://u:{PASSWORD}@db.internal/spend",
    "SPENDSCOPE_REDIS_URL": f"redis://:{PASSWORD}@cache.internal:6379/0",
    "SPENDSCOPE_OTEL_ENDPOINT": f"https://otel:{PASSWORD}@otel.internal/v1/traces",
    "SPENDSCOPE_UPSTREAMS": json.dumps({"azure": f"https://a:{PASSWORD}@az.internal/v1"}),
    "SPENDSCOPE_ADMIN_TOKEN": PASSWORD,
    "SPENDSCOPE_UPSTREAM_API_KEY": f"sk-{PASSWORD}",
}


@pytest.mark.parametrize("as_json", [False, True])
def test_config_show_masks_every_secret(monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    for name, value in URLS.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["config", "show", *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    if as_json:  # the rest of each URL stays readable
        shown = json.loads(result.output)
        assert (
            shown["SPENDSCOPE_DATABASE_URL"] == "postgresql+psycopg://u:********@db.internal/spend"
        )
        assert shown["SPENDSCOPE_REDIS_URL"] == "redis://:********@cache.internal:6379/0"


def test_cli_error_lines_mask_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception):  # noqa: B017 — typer.Exit
        fail(f"cannot reach postgresql://u:{PASSWORD}@h/db")
    err = capsys.readouterr().err
    assert PASSWORD not in err
    assert "postgresql://u:********@h/db" in err


def test_logged_warnings_mask_secrets(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    log = logging.getLogger("collector.anything")
    log.warning("Redis unreachable at %s", f"redis://:{PASSWORD}@cache.internal:6379/0")
    log.error("upstream said: Incorrect API key provided: sk-%s", PASSWORD)
    assert caplog.records
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)
    assert PASSWORD not in caplog.text
