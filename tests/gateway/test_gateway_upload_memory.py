"""A file upload streams through the gateway: a 64 MB batch input file goes up and comes back
down through ``spendscope serve`` (a process of its own), and the gateway's peak memory grows
by a small fraction of the file's size (a buffered body would grow it by the whole file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest

from tests.faults._harness import Gateway, MockUpstream

SIZE = 64 * 1024 * 1024


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    mock = MockUpstream(tmp_path)
    gateway = Gateway(
        work=tmp_path, database_url=f"sqlite:///{tmp_path / 'upload.db'}",
        upstream=mock.base_url, spool_dir=tmp_path / "spool",
    )  # fmt: skip
    try:
        key = gateway.create_key()
        gateway.start()
        yield gateway, key
    finally:
        gateway.stop()
        mock.stop()


def _input_file(path: Path) -> int:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 900}]}
    line = {"custom_id": "", "method": "POST", "url": "/v1/chat/completions", "body": body}
    with path.open("wb") as out:
        n = 0
        while out.tell() < SIZE:
            line["custom_id"] = f"req-{n}"
            out.write(orjson.dumps(line) + b"\n")
            n += 1
    return path.stat().st_size


def test_a_large_upload_is_streamed_not_held(served: tuple[Gateway, str], tmp_path: Path) -> None:
    gateway, key = served
    size = _input_file(tmp_path / "input.jsonl")
    client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=300)
    client.models.list()  # warm the request path before measuring
    before = _kib(gateway.pid, "VmRSS")
    with (tmp_path / "input.jsonl").open("rb") as f:
        uploaded = client.files.create(file=("input.jsonl", f), purpose="batch")
    assert uploaded.bytes == size
    up_mib = (_kib(gateway.pid, "VmHWM") - before) / 1024
    received = 0
    with client.files.with_streaming_response.content(uploaded.id) as response:
        for chunk in response.iter_bytes():
            received += len(chunk)
    assert received == size
    peak = _kib(gateway.pid, "VmHWM")
    grew_mib = (peak - before) / 1024
    bound = size / (1024 * 1024) / 4
    assert up_mib < bound, f"gateway peak RSS grew by {up_mib:.0f} MiB during the upload"
    assert grew_mib < bound, f"gateway peak RSS grew by {grew_mib:.0f} MiB with the download"
