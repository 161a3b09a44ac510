"""Scoping: attribute() blocks belong to one thread or asyncio task, and tasks inherit them."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import openai
from openai.types.chat import ChatCompletionMessageParam

from collector import sdk as spendscope
from tests.gateway._support import Gateway

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say something short."}]


def test_threads_keep_their_own_scopes(gateway: Gateway) -> None:
    client = spendscope.spendscope_client(
        openai.OpenAI, base_url=gateway.base_url, api_key=gateway.key(), max_retries=0
    )
    barrier = threading.Barrier(4)

    def work(n: int) -> str | None:
        with spendscope.attribute(user=f"user-{n}", tags={"worker": str(n)}):
            barrier.wait(timeout=10)  # every thread is inside its block at once
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            barrier.wait(timeout=10)
        call = spendscope.last_call()
        return call.request_id if call else None

    def embed_and_read() -> spendscope.CallRecord | None:
        client.embeddings.create(model="text-embedding-3-small", input="x")
        return spendscope.last_call()

    with spendscope.attribute(user="main-thread"), ThreadPoolExecutor(4) as pool:
        ids = list(pool.map(work, range(4)))
        # a plain thread does not inherit the main thread's block ...
        plain = pool.submit(embed_and_read).result()
        # ... a thread started with a copy of the context does
        copied = pool.submit(contextvars.copy_context().run, embed_and_read).result()
    for n, request_id in enumerate(ids):
        assert request_id is not None
        row = gateway.request(request_id)
        assert (row.end_user, row.tags) == (f"user-{n}", {"worker": str(n)})
    assert plain and plain.request_id and copied and copied.request_id
    assert gateway.request(plain.request_id).end_user is None
    assert gateway.request(copied.request_id).end_user == "main-thread"
    assert spendscope.last_call() is None or spendscope.last_call() not in (plain, copied)


async def test_asyncio_tasks_inherit_and_isolate_scopes(gateway: Gateway) -> None:
    client = spendscope.spendscope_client(
        openai.AsyncOpenAI, base_url=gateway.base_url, api_key=gateway.key(), max_retries=0
    )
    started = asyncio.Event()
    inside = 0
    before = spendscope.last_call()  # an earlier test's call in this thread may be visible

    async def work(n: int) -> tuple[str | None, list[spendscope.CallRecord]]:
        nonlocal inside
        with spendscope.attribute(tags={"task": str(n)}) as scope:
            inside += 1
            if inside == 3:
                started.set()
            await started.wait()  # all three blocks are open at the same time
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        call = spendscope.last_call()
        return (call.request_id if call else None), scope.calls

    with spendscope.attribute(user="async-user") as outer:
        results = await asyncio.gather(*(work(n) for n in range(3)))
    assert spendscope.last_call() is before  # tasks' calls stay in the tasks
    assert len(outer.calls) == 3  # the outer block saw every call of the tasks it spawned
    for n, (request_id, calls) in enumerate(results):
        assert request_id is not None and [c.request_id for c in calls] == [request_id]
        row = gateway.request(request_id)
        assert (row.end_user, row.tags) == ("async-user", {"task": str(n)})
        assert calls[0].cost_usd == row.cost_usd
    await client.close()
