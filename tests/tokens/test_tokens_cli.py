"""``spendscope tokens`` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from collector.cli.tokens import register
from collector.tokens import count_chat_prompt_tokens


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)

    @application.command("noop")
    def _noop() -> None:  # a second command keeps "tokens" a named subcommand
        """Unused."""

    return application


MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What's the capital of France?"},
]


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def test_prints_the_count(app: typer.Typer, tmp_path: Path) -> None:
    path = _write(tmp_path, "m.json", json.dumps(MESSAGES))
    result = CliRunner().invoke(app, ["tokens", "--model", "gpt-4o", "--messages", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(count_chat_prompt_tokens(MESSAGES, "gpt-4o"))


def test_json_output_with_tools(app: typer.Typer, tmp_path: Path) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]
    m = _write(tmp_path, "m.json", json.dumps(MESSAGES))
    t = _write(tmp_path, "t.json", json.dumps(tools))
    args = ["tokens", "--model", "gpt-4", "--messages", str(m), "--tools", str(t), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload == {
        "model": "gpt-4",
        "prompt_tokens": count_chat_prompt_tokens(MESSAGES, "gpt-4", tools),
        "encoding": "cl100k_base",
        "encoding_assumed": False,
    }
    assert result.stderr == ""


def test_unknown_model_says_which_encoding_was_assumed(app: typer.Typer, tmp_path: Path) -> None:
    path = _write(tmp_path, "m.json", json.dumps(MESSAGES))
    args = ["tokens", "--model", "homebrew-llm", "--messages", str(path)]
    plain = CliRunner().invoke(app, args)
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert plain.exit_code == 0 and as_json.exit_code == 0
    assert plain.stdout.strip() == str(count_chat_prompt_tokens(MESSAGES, "gpt-4o"))
    note = "note: unknown model 'homebrew-llm'; assumed the o200k_base encoding\n"
    assert plain.stderr == note and as_json.stderr == note
    payload = json.loads(as_json.stdout)
    assert (payload["encoding"], payload["encoding_assumed"]) == ("o200k_base", True)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "messages file not found"),
        ("{not json", "not valid JSON"),
        ('{"role": "user"}', "must be a JSON array of objects"),
        ('["hello"]', "must be a JSON array of objects"),
        ('[{"role": "wizard", "content": "hi"}]', "messages[0] has role 'wizard'"),
        ('[{"content": "no role"}]', "messages[0] has role None"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    app: typer.Typer, tmp_path: Path, body: str | None, message: str
) -> None:
    path = tmp_path / "m.json"
    if body is not None:
        path.write_text(body, encoding="utf-8")
    result = CliRunner().invoke(app, ["tokens", "--model", "gpt-4o", "--messages", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_bad_tools_file(app: typer.Typer, tmp_path: Path) -> None:
    m = _write(tmp_path, "m.json", json.dumps(MESSAGES))
    t = _write(tmp_path, "t.json", '{"type": "function"}')
    args = ["tokens", "--model", "gpt-4o", "--messages", str(m), "--tools", str(t)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: tools must be a JSON array of objects"
