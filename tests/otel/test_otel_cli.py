"""Bad input to ``spendscope otel`` is one line on stderr and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.otel import parse_headers, traces_url
from tests.otel._run import spendscope as run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--endpoint", "ftp://collector:4318"], "must be an http:// or https:// URL"),
        (["--endpoint", "collector:4318"], "must be an http:// or https:// URL"),
        (["--endpoint", "http://collector:99999"], "invalid port"),
        (["--endpoint", "http://x:4318", "--headers", "no-equals"], "must look like name=value"),
        (["--endpoint", "http://x:4318", "--headers", "bad name=v"], "must look like name=value"),
        (["--endpoint", "http://x:4318", "--since", "yesterday"], "--since 'yesterday'"),
        ([], "no endpoint"),
        (["--dry-run", "--follow"], "cannot be combined with --follow"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, migrated_url: str, tmp_path: Path
) -> None:
    done = run("otel", "export", *args, database_url=migrated_url, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr


def test_a_damaged_cursor_file_is_one_line(migrated_url: str, tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text("{not json", encoding="utf-8")
    for command in (["export", "--dry-run"], ["status"]):
        done = run("otel", *command, "--cursor", "c.json", database_url=migrated_url, cwd=tmp_path)
        assert done.returncode == 2 and "cannot read the cursor file" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_urls_and_headers() -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("https://c:4318/") == "https://c:4318/v1/traces"
    assert traces_url("https://otlp.example/api/v1/traces") == "https://otlp.example/api/v1/traces"
    assert parse_headers(["a=1,B = two", "c=x=y", ""]) == {"a": "1", "b": "two", "c": "x=y"}
