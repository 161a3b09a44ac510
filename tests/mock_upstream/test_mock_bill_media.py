"""The mock bills images, speech, transcriptions and code interpreter sessions as served: each
on its Usage API in OpenAI's shape, and on the Costs API at the catalog's price."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import httpx
import openai

from collector.mock_upstream import MockConfig, run_in_thread
from collector.mock_upstream._ledger import mock_key_id
from collector.mock_upstream._media import wav_bytes
from collector.pricing import compute_cost, container_cost
from collector.usage import Usage

ADMIN = {"Authorization": "Bearer sk-admin-test"}
START = int(datetime.combine(datetime.now(UTC).date(), time(0), UTC).timestamp())
KEY_ID = mock_key_id("sk-upstream")


def _usage(url: str, endpoint: str, groups: list[str]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/organization/usage/{endpoint}", headers=ADMIN, timeout=30,
                       params={"start_time": START, "group_by": groups})  # fmt: skip
    assert answer.status_code == 200, answer.text
    page: dict[str, Any] = answer.json()
    return [r for bucket in page["data"] for r in bucket["results"]]


def _serve(url: str) -> None:
    client = openai.OpenAI(base_url=url, api_key="sk-upstream", max_retries=0, timeout=30)
    client.images.generate(model="dall-e-3", prompt="a ledger", size="1024x1792", quality="hd")
    client.images.edit(image=("a.png", io.BytesIO(b"\x89PNG"), "image/png"), prompt="x", n=2)
    client.audio.speech.create(model="tts-1", voice="alloy", input="Every dollar reconciled.")
    wav = ("call.wav", io.BytesIO(wav_bytes(61.2)), "audio/wav")
    client.audio.transcriptions.create(model="whisper-1", file=wav)
    client.containers.create(name="month-close")
    client.containers.create(name="too-big", extra_body={"memory_limit": "4g"})


def test_media_and_sessions_are_on_their_usage_apis(openapi: Callable[[Any, str], None]) -> None:
    with run_in_thread(MockConfig(admin_key="sk-admin-test")) as url:
        _serve(url)
        groups = ["model", "api_key_id"]
        images = _usage(url, "images", groups)
        speech = _usage(url, "audio_speeches", groups)
        heard = _usage(url, "audio_transcriptions", groups)
        sessions = _usage(url, "code_interpreter_sessions", ["project_id"])
        refused = httpx.get(f"{url}/organization/usage/code_interpreter_sessions", headers=ADMIN,
                            params={"start_time": START, "group_by": ["model"]})  # fmt: skip
    for rows, schema in ((images, "UsageImagesResult"), (speech, "UsageAudioSpeechesResult"),
                         (heard, "UsageAudioTranscriptionsResult"),
                         (sessions, "UsageCodeInterpreterSessionsResult")):  # fmt: skip
        for row in rows:
            openapi(row, schema)
    by_model = {r["model"]: (r["images"], r["num_model_requests"]) for r in images}
    assert by_model == {"dall-e-3": (1, 1), "dall-e-2": (2, 1)}
    assert {r["api_key_id"] for r in images} == {KEY_ID}
    assert [(r["model"], r["characters"], r["num_model_requests"]) for r in speech] == [
        ("tts-1", len("Every dollar reconciled."), 1)
    ]
    assert [(r["model"], r["seconds"]) for r in heard] == [("whisper-1", 62)]  # rounded up
    # the 4g container is not in the catalog: not billed (as it is unpriced in spendscope)
    assert [(r["num_sessions"], r["project_id"]) for r in sessions] == [(1, "proj_mock")]
    assert refused.status_code == 400  # that Usage API groups by project only


def test_their_cost_line_items_are_the_catalog_price() -> None:
    with run_in_thread(MockConfig(admin_key="sk-admin-test")) as url:
        _serve(url)
        answer = httpx.get(f"{url}/organization/costs", headers=ADMIN, timeout=30,
                           params={"start_time": START, "group_by": ["line_item"]})  # fmt: skip
    rows = [r for b in json.loads(answer.text, parse_float=Decimal)["data"] for r in b["results"]]
    billed = {r["line_item"]: r["amount"]["value"] for r in rows}
    now = datetime.now(UTC)

    def price(usage: Usage, model: str) -> Decimal:
        cost = compute_cost(usage, model, now).cost_usd
        assert cost is not None
        return cost

    hd = Usage(images=1, image_size="1024x1792", image_quality="hd")
    session = container_cost(None, now).cost_usd
    assert billed == {
        "dall-e-3, images hd/1024x1792": price(hd, "dall-e-3"),
        "dall-e-2, images standard/1024x1024": price(Usage(images=2), "dall-e-2"),
        "tts-1, characters": price(Usage(characters=24), "tts-1"),
        "whisper-1, audio minutes": price(Usage(audio_seconds=Decimal(62)), "whisper-1"),
        "code interpreter sessions": session,
    }
