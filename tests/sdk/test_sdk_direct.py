"""Direct mode: the official openai SDK talks to the mock upstream (standing in for OpenAI)
and never to the gateway; each call's usage reaches a real gateway's ``/api/ingest`` later.

Covers priced rows with the app's attribution, a gateway that is down for a while, and an
app killed with events still buffered on disk (sent by the next start, none twice).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path

import openai
from openai.types.chat import ChatCompletionMessageParam

from collector import sdk as spendscope
from collector.pricing import compute_cost
from collector.usage import Usage
from tests.gateway._support import UPSTREAM_KEY, Gateway
from tests.support.tcp_proxy import TcpProxy

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


def _ingest_url(gw: Gateway) -> str:
    return gw.base_url.removesuffix("/v1") + "/api/ingest"


def _direct(
    upstream: str, ingest_url: str, key: str, buffer: Path, **options: object
) -> openai.OpenAI:
    client = openai.OpenAI(base_url=upstream, api_key=UPSTREAM_KEY, max_retries=0)
    return spendscope.instrument(
        client,
        ingest_url=ingest_url,
        key=key,
        buffer_dir=buffer,
        **options,  # type: ignore[arg-type]
    )


def test_calls_that_never_touch_the_gateway_are_booked_priced_and_attributed(
    gateway: Gateway, mock_base_url: str, tmp_path: Path
) -> None:
    key = gateway.key(project="notebooks")
    seen: list[spendscope.CallRecord] = []
    client = _direct(
        mock_base_url, _ingest_url(gateway), key, tmp_path / "buf", user="svc", on_call=seen.append
    )
    assert client.base_url == openai.OpenAI(base_url=mock_base_url, api_key="x").base_url
    with spendscope.attribute(tags={"feature": "search"}, metadata={"step": 1}) as scope:
        chat = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        call = spendscope.last_call()
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        streamed = [c.usage for c in stream if c.usage is not None]
        emb = client.embeddings.create(model="text-embedding-3-small", input="hello")
    client.models.list()  # not metered: nothing is reported
    assert call is not None and call.event_id and call.request_id is None
    assert [c.event_id for c in scope.calls] == [c.event_id for c in seen]
    assert len(seen) == 3
    shipper = spendscope.shipper_for(_ingest_url(gateway), key, tmp_path / "buf")
    assert shipper.flush()
    rows = gateway.requests()
    assert len(rows) == 3
    by_stream = {(r.endpoint, r.stream): r for r in rows}
    row = by_stream[("/v1/chat/completions", False)]
    assert chat.usage is not None
    usage = Usage(
        prompt_tokens=chat.usage.prompt_tokens,
        completion_tokens=chat.usage.completion_tokens,
        cached_tokens=(chat.usage.prompt_tokens_details.cached_tokens or 0)
        if chat.usage.prompt_tokens_details
        else 0,
    )
    expected = compute_cost(usage, chat.model, row.started_at)
    assert row.cost_usd == expected.cost_usd and row.cost_usd is not None and row.cost_usd > 0
    assert (row.cost_source, row.model_served, row.http_status) == ("reported", chat.model, 200)
    assert (row.end_user, row.tags, row.metadata_) == ("svc", {"feature": "search"}, {"step": 1})
    assert row.prompt_tokens == chat.usage.prompt_tokens
    streamed_row = by_stream[("/v1/chat/completions", True)]
    assert streamed and streamed_row.completion_tokens == streamed[-1].completion_tokens
    assert streamed_row.ttft_ms is not None and streamed_row.cost_source == "reported"
    emb_row = by_stream[("/v1/embeddings", False)]
    assert emb_row.prompt_tokens == emb.usage.prompt_tokens and emb_row.cost_usd
    shipper.close()


def test_events_wait_while_the_gateway_is_down_and_arrive_later(
    gateway: Gateway, mock_base_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", gateway.server.port)
    url = f"http://127.0.0.1:{proxy.port}/api/ingest"
    key = gateway.key()
    client = _direct(mock_base_url, url, key, tmp_path / "buf")
    for _ in range(5):  # the proxy is not listening yet: the gateway is unreachable
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    shipper = spendscope.shipper_for(url, key, tmp_path / "buf")
    assert not shipper.flush(timeout_s=1.5)
    assert gateway.requests() == []
    assert list((tmp_path / "buf").glob("*.ndjson"))  # waiting on disk
    proxy.start()
    try:
        assert shipper.flush(timeout_s=15)
        assert len(gateway.requests()) == 5
        assert shipper.acknowledged == 5 and shipper.dropped == 0
    finally:
        shipper.close()
        proxy.close()


_APP = textwrap.dedent(
    """
    import sys, time, openai
    from pathlib import Path
    from collector import sdk as spendscope

    upstream, ingest, key, buffer, n = sys.argv[1:6]
    client = spendscope.instrument(
        openai.OpenAI(base_url=upstream, api_key=sys.argv[6], max_retries=0),
        ingest_url=ingest, key=key, buffer_dir=Path(buffer),
    )
    for i in range(int(n)):
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"call {i}"}]
        )
    print("done", flush=True)
    time.sleep(120)
    """
)


def _wait_for(check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_killed_app_s_buffered_events_arrive_after_its_restart_none_twice(
    gateway: Gateway, mock_base_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy("127.0.0.1", gateway.server.port)  # down while the app runs
    url = f"http://127.0.0.1:{proxy.port}/api/ingest"
    key, buffer = gateway.key(), tmp_path / "buf"
    args = [mock_base_url, url, key, str(buffer), "40", UPSTREAM_KEY]
    app = subprocess.Popen(
        [sys.executable, "-c", _APP, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
        cwd=Path(__file__).parents[2],
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "done"
        _wait_for(lambda: len(_lines(buffer)) == 40, 10)
        app.send_signal(signal.SIGKILL)
        app.wait(10)
    finally:
        app.kill()
    kept = tmp_path / "kept"
    shutil.copytree(buffer, kept)  # the same segments, to be sent a second time
    proxy.start()
    try:
        restarted = spendscope.Shipper(url, key, buffer_dir=buffer)
        assert restarted.flush(timeout_s=15)
        assert len(gateway.requests()) == 40
        restarted.close()
        for lock in kept.glob("*.lock"):
            lock.unlink()  # as if another process died holding them
        replay = spendscope.Shipper(url, key, buffer_dir=kept)
        assert replay.flush(timeout_s=15) and replay.acknowledged == 40
        replay.close()
        rows = gateway.requests()
        assert len(rows) == 40 and all(r.cost_source == "reported" for r in rows)
    finally:
        proxy.close()


def _lines(buffer: Path) -> list[bytes]:
    found: list[bytes] = []
    for path in buffer.glob("*-*"):
        found.extend(line for line in path.read_bytes().split(b"\n") if line)
    return found


def test_async_clients_and_calls_without_an_answer_are_reported(
    gateway: Gateway, mock_base_url: str, tmp_path: Path
) -> None:
    key, url, buffer = gateway.key(), _ingest_url(gateway), tmp_path / "buf"
    client = spendscope.instrument(
        openai.AsyncOpenAI(base_url=mock_base_url, api_key=UPSTREAM_KEY, max_retries=0),
        ingest_url=url,
        key=key,
        buffer_dir=buffer,
    )
    dead = _direct("http://127.0.0.1:9/v1", url, key, buffer)

    async def calls() -> tuple[str | None, int]:
        with spendscope.attribute(user="carol"):
            chat = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            record = spendscope.last_call()
        assert chat.usage is not None and record is not None
        return record.event_id, chat.usage.prompt_tokens

    event_id, prompt_tokens = asyncio.run(calls())
    try:
        dead.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    except openai.APIConnectionError:
        pass
    else:
        raise AssertionError("the upstream was not down")
    assert event_id and spendscope.shipper_for(url, key, buffer).flush()
    rows = {r.outcome: r for r in gateway.requests()}
    assert set(rows) == {"success", "upstream_error"}
    ok, failed = rows["success"], rows["upstream_error"]
    assert (ok.end_user, ok.prompt_tokens, ok.cost_source) == ("carol", prompt_tokens, "reported")
    assert ok.cost_usd is not None and ok.cost_usd > 0
    assert (failed.model_requested, failed.http_status) == ("gpt-4o", None)
    assert failed.cost_usd == Decimal(0)
    assert failed.error_type == "ConnectError"
