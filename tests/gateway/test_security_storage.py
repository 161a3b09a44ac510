"""docs/security.md: prompts and completions are never stored — a marker sent in a prompt
(streamed and not) is in no column of any row the gateway wrote."""

from __future__ import annotations

import uuid

from openai.types.chat import ChatCompletionMessageParam
from sqlalchemy import MetaData, select

from tests.gateway._support import GatewayFactory


def test_prompt_text_reaches_no_row(gateway_on: GatewayFactory) -> None:
    gw = gateway_on()
    marker = f"CANARY{uuid.uuid4().hex}"
    client = gw.client()
    messages: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": f"please repeat {marker} {marker}"}
    ]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    client.embeddings.create(model="text-embedding-3-small", input=marker)
    assert len(gw.requests()) == 3  # flushed
    assert len(streamed) > 20
    meta = MetaData()
    meta.reflect(gw.engine)
    with gw.engine.connect() as conn:
        for table in meta.sorted_tables:
            text = " ".join(str(row) for row in conn.execute(select(table)))
            assert marker not in text, table.name
            assert streamed not in text and streamed[:20] not in text, table.name
