"""Settings: invalid values fail in one line; every variable is documented once, in sync."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collector.cli import app
from collector.errors import SettingsError
from collector.settings import Settings, load_settings
from collector.settings_doc import env_example, env_name, markdown_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SPENDSCOPE_PORT", "eighty", "invalid setting SPENDSCOPE_PORT"),
        ("SPENDSCOPE_DATABASE_URL", "mysql://x", "invalid setting SPENDSCOPE_DATABASE_URL"),
        ("SPENDSCOPE_FALLBACK_MODELS", "{not json", "SPENDSCOPE_FALLBACK_MODELS: not valid JSON"),
        ("SPENDSCOPE_MAX_ATTEMPTS", "0", "invalid setting SPENDSCOPE_MAX_ATTEMPTS"),
    ],
)
def test_invalid_setting_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=re.escape(expected)):
        load_settings()
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_env_example_is_generated_from_settings() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), (
        "regenerate: spendscope config env-example > .env.example"
    )


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- settings-table:start -->")[1].split("<!-- settings-table:end -->")[0]
    assert block.strip() == markdown_table(), "regenerate: spendscope config env-example --markdown"
    for name in Settings.model_fields:
        assert f"`{env_name(name)}`" in block
