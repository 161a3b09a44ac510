"""``spendscope mock-upstream``: one-line errors with exit 2, and a real served process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import typer
from typer.testing import CliRunner

from collector.cli.mock_upstream import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:
        """Second command, so Typer keeps ``mock-upstream`` as a named subcommand."""

    return app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latency-ms", "-1"], "latency_ms must be >= 0"),
        (["--port", "70000"], "port must be 0..65535"),
        (["--scenario", "/nonexistent/scenario.yaml"], "cannot read scenario file"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(_app(), ["mock-upstream", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_bad_scenario_file_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules: [{faults: {'500': 7}}]")
    result = CliRunner().invoke(_app(), ["mock-upstream", "--scenario", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "probability" in result.stderr


def test_serves_until_interrupted() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "mock-upstream", "--port", "0", "--seed", "3"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", line)
        assert match, line
        client = openai.OpenAI(base_url=match.group(1), api_key="sk", max_retries=0, timeout=60)
        completion = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert completion.model == "gpt-4o-mini-2024-07-18"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) in (0, 130, -signal.SIGINT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
