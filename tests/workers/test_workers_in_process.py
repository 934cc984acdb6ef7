"""An API app that only stores turns (run_turns=False) and a worker app on the same store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

import threadline as tl
from threadline.testing import ScriptedModel, check_invariants, tool_call


@tl.tool(needs_approval=True)
async def transfer(to: str) -> str:
    """Send money."""
    return f"sent to {to}"


@pytest.fixture
async def pair(
    make_store: Any,
) -> AsyncIterator[tuple[tl.Threadline, tl.Threadline, ScriptedModel]]:
    model = ScriptedModel([])
    api = tl.Threadline(
        agents=[tl.Agent(name="a", tools=[transfer])],
        store=make_store(),
        model="no-model-needed:x",
        run_turns=False,
    )
    worker = tl.Threadline(
        agents=[tl.Agent(name="a", tools=[transfer])], store=make_store(), model=model
    )
    async with api, worker:
        stop = asyncio.Event()
        working = asyncio.create_task(worker.work(concurrency=2, idle_wait=0.05, stop=stop))
        yield api, worker, model
        stop.set()
        await working
    async with make_store() as store:
        assert await check_invariants(store) == []


async def test_the_api_stores_the_turn_and_streams_what_the_worker_does(pair: Any) -> None:
    api, _, model = pair
    model.add("Hello from the worker.")
    thread = await api.threads.start()

    stream = thread.run_streamed("hi")
    events = [e async for e in stream]

    assert stream.outcome is not None
    assert stream.outcome.kind == "stored"
    assert stream.result.text == "Hello from the worker."
    assert next(e.type for e in events) == "turn_started"
    assert events[-1].type == "completed"
    assert [e.seq for e in events] == [e.seq for e in await thread.events()]


async def test_an_approval_decided_at_the_api_is_continued_by_the_worker(pair: Any) -> None:
    api, _, model = pair
    model.add(tool_call("transfer", {"to": "ann"}, tool_call_id="t1"), "Done.")
    thread = await api.threads.start()

    paused = await thread.run("pay ann")
    assert paused.status == "paused"
    await thread.approve("t1")
    result = await thread.resume_turn()

    assert result.status == "completed"
    assert result.text == "Done."


async def test_interrupt_from_the_api_stops_the_workers_turn(pair: Any) -> None:
    api, _, model = pair
    from threadline.testing import Step

    model.add(Step(text="slow " * 50, delta_delay=0.05))
    thread = await api.threads.start()
    running = asyncio.create_task(thread.run("go"))
    await asyncio.sleep(0.3)

    assert await thread.interrupt() is True

    with pytest.raises(tl.TurnCancelledError):
        await running
    assert [t.status for t in await thread.turns()] == ["cancelled"]


async def test_a_postgres_worker_is_woken_by_notify_not_by_its_poll(make_store: Any) -> None:
    store = make_store()
    if not hasattr(store, "listen"):
        pytest.skip("only PostgreSQL pushes notifications")
    model = ScriptedModel(["woken"])
    api = tl.Threadline(agents=[tl.Agent(name="a")], store=make_store(), run_turns=False)
    worker = tl.Threadline(agents=[tl.Agent(name="a")], store=store, model=model)
    async with api, worker:
        stop = asyncio.Event()
        working = asyncio.create_task(worker.work(idle_wait=30, stop=stop))
        await asyncio.sleep(0.2)  # the worker has looked once and now waits
        thread = await api.threads.start()
        result = await asyncio.wait_for(thread.run("hi"), 10)
        stop.set()
        await working
    assert result.text == "woken"
