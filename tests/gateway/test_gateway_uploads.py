"""Image edits and variations (multipart) and code interpreter containers, priced exactly.

Published prices (platform.openai.com/docs/pricing): dall-e-2 per image $0.016 (256x256),
$0.018 (512x512), $0.020 (1024x1024); gpt-image-1 per 1M tokens: text in $5, image in $10,
image out $40; code interpreter $0.03 a 1 GB container session.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from collector.mock_upstream._media import IMAGE_INPUT_TOKENS, PNG
from collector.tokens import count_text_tokens
from tests.gateway._support import GatewayFactory

M = Decimal(1_000_000)
PROMPT = "Paint the sky a deeper blue."


def test_dall_e_2_variations_are_priced_per_image_by_size(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    made = gw.client().images.create_variation(image=("cat.png", PNG), n=2, size="512x512")
    assert made.data is not None and len(made.data) == 2
    row = gw.only_request()
    assert (row.endpoint, row.model_requested, row.images) == (
        "/v1/images/variations",
        "dall-e-2",
        2,
    )
    assert (row.cost_source, row.cost_usd) == ("computed", 2 * Decimal("0.018"))


def test_dall_e_2_edit_without_a_model_uses_openai_default(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    gw.client().images.edit(image=("cat.png", PNG), prompt=PROMPT, size="256x256")
    row = gw.only_request()
    assert (row.model_requested, row.images) == ("dall-e-2", 1)
    assert (row.cost_source, row.cost_usd) == ("computed", Decimal("0.016"))


def test_gpt_image_edit_is_priced_from_its_token_usage(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    edited = gw.client().images.edit(
        model="gpt-image-1", image=[("a.png", PNG), ("b.png", PNG)], prompt=PROMPT,
        quality="low", size="1024x1024",
    )  # fmt: skip
    assert edited.usage is not None
    text = count_text_tokens(PROMPT, "gpt-4o")
    image_in, image_out = 2 * IMAGE_INPUT_TOKENS, 272  # low quality, square
    row = gw.only_request()
    assert (row.prompt_tokens, row.image_tokens) == (text + image_in, image_in + image_out)
    expected = (text * Decimal(5) + image_in * Decimal(10) + image_out * Decimal(40)) / M
    assert (row.cost_source, row.cost_usd) == ("computed", expected)


def test_a_created_container_is_one_code_interpreter_session(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    container = gw.client().containers.create(name="analysis")
    row = gw.only_request()
    assert (row.endpoint, row.outcome, row.code_interpreter_sessions) == (
        "/v1/containers", "success", 1,
    )  # fmt: skip
    assert (row.cost_source, row.cost_usd) == ("computed", Decimal("0.03"))
    assert row.price_id == "code_interpreter@2025-05-21"
    assert container.id.startswith("cntr_")


def test_a_larger_container_has_no_catalog_rate_and_is_unpriced(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    gw.client().containers.create(name="big", memory_limit="4g")
    row = gw.only_request()
    assert (row.cost_source, row.cost_usd) == ("unpriced", None)
    assert "4g" in (row.cost_note or "")


def test_responses_do_not_bill_a_container_created_through_containers_again(
    gateway_on: GatewayFactory,
) -> None:
    gw = gateway_on()
    client = gw.client()
    container = client.containers.create(name="shared")
    tools: Any = [{"type": "code_interpreter", "container": container.id}]
    answer = client.responses.create(model="gpt-4.1", input="Add 2 and 3.", tools=tools)
    ran = [item for item in answer.output if item.type == "code_interpreter_call"]
    assert ran and all(item.container_id == container.id for item in ran)
    created, response = gw.requests()
    assert created.code_interpreter_sessions == 1
    assert (response.endpoint, response.code_interpreter_sessions) == ("/v1/responses", 0)
    auto: Any = [{"type": "code_interpreter", "container": {"type": "auto"}}]
    client.responses.create(model="gpt-4.1", input="Add 2 and 3.", tools=auto)
    assert gw.requests()[-1].code_interpreter_sessions == 1  # an auto container is billed here
