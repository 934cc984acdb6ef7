"""`run(..., on_busy="enqueue")` returns what the queued input's turn did, whichever process
ran it: here the caller is an API process and a worker process runs every turn."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from worker_harness import api

import threadline as tl
from threadline.testing import check_invariants, eventually

pytestmark = pytest.mark.slow


async def queued_behind_work(thread: tl.Thread, text: str, **options: Any) -> tl.TurnStream:
    """Queue `text` behind a turn that a worker is running, and follow it to its end."""
    before = len(await thread.turns())
    busy = asyncio.create_task(thread.run("work 2"))

    async def stored() -> bool:
        return len(await thread.turns()) > before

    await eventually(stored)
    stream = thread.run_streamed(text, **options)

    async def consume() -> None:
        async for _ in stream:
            pass

    try:
        await asyncio.wait_for(consume(), 30)
    finally:
        assert (await busy).status == "completed"
        assert stream.outcome is not None
        assert stream.outcome.kind == "enqueued"
    return stream


async def test_queued_input_run_by_a_worker_process_returns_its_result(
    store_url: str, start_worker: object
) -> None:
    start_worker()  # type: ignore[operator]
    async with api(store_url) as app:
        thread = await app.threads.start()

        completed = (await queued_behind_work(thread, "hello", on_busy="enqueue")).result
        assert completed.status == "completed"
        assert completed.text == "echo hello"

        with pytest.raises(tl.TurnFailedError) as caught:
            await queued_behind_work(thread, "fail", enqueue_if_busy=True)
        assert caught.value.error_code == "model_error"

        paused = (await queued_behind_work(thread, "pay ann", on_busy="enqueue")).result
        assert paused.status == "paused"
        assert [a.name for a in paused.pending_approvals] == ["pay"]

        turns = await thread.turns()
        assert [(t.input[0]["text"], t.status) for t in turns] == [
            ("work 2", "completed"),
            ("hello", "completed"),
            ("work 2", "completed"),
            ("fail", "failed"),
            ("work 2", "completed"),
            ("pay ann", "awaiting_approval"),
        ]
        assert completed.turn_id == turns[1].turn_id
        assert paused.turn_id == turns[5].turn_id
        await thread.interrupt()
        assert await check_invariants(app.store) == []
