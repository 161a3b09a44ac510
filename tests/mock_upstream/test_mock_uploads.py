"""The mock's image edits and variations (multipart) and containers, in OpenAI's shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from collector.mock_upstream._media import IMAGE_INPUT_TOKENS, PNG

Validate = Callable[[Any, str], None]


def test_variations_are_dall_e_2_images(client: openai.OpenAI, openapi: Validate) -> None:
    made = client.images.create_variation(image=("a.png", PNG), n=3, response_format="url")
    openapi(made.model_dump(mode="json", exclude_none=True), "ImagesResponse")
    assert made.data is not None and len(made.data) == 3 and made.usage is None
    with pytest.raises(openai.BadRequestError):
        client.images.create_variation(image=("a.png", PNG), model="gpt-image-1")


def test_gpt_image_edits_count_each_input_image(client: openai.OpenAI, openapi: Validate) -> None:
    made = client.images.edit(
        model="gpt-image-1", image=[("a.png", PNG), ("b.png", PNG), ("c.png", PNG)],
        prompt="Add a hat.", quality="high",
    )  # fmt: skip
    openapi(made.model_dump(mode="json", exclude_none=True), "ImagesResponse")
    assert made.usage is not None and made.usage.input_tokens_details is not None
    assert made.usage.input_tokens_details.image_tokens == 3 * IMAGE_INPUT_TOKENS
    assert made.usage.output_tokens == 4160  # high quality, square


def test_an_edit_needs_an_image_and_a_prompt(base_url: str) -> None:
    auth = {"Authorization": "Bearer sk-test"}
    no_image = httpx.post(f"{base_url}/images/edits", data={"prompt": "x"}, headers=auth,
                          files={"other": ("a.png", PNG)})  # fmt: skip
    assert no_image.status_code == 400 and no_image.json()["error"]["param"] == "image"
    no_prompt = httpx.post(f"{base_url}/images/edits", headers=auth,
                           files={"image": ("a.png", PNG)})  # fmt: skip
    assert no_prompt.status_code == 400 and no_prompt.json()["error"]["param"] == "prompt"


def test_containers_are_container_resources(client: openai.OpenAI, openapi: Validate) -> None:
    made = client.containers.with_raw_response.create(name="work", memory_limit="4g")
    body = made.http_response.json()
    openapi(body, "ContainerResource")
    assert (body["memory_limit"], body["status"]) == ("4g", "running")
    with pytest.raises(openai.BadRequestError):
        client.containers.create(name="work", memory_limit="3g")  # type: ignore[arg-type]
