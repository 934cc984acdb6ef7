from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.testing import Step, eventually


async def test_a_second_run_while_busy_raises_turn_in_progress(make_app: Any) -> None:
    app, _ = await make_app([Step(text="slow answer", delay=0.3)])
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("one"))
    await asyncio.sleep(0.05)

    with pytest.raises(tl.TurnInProgressError) as caught:
        await thread.run("two")

    assert caught.value.code == "turn_in_progress"
    assert (await first).text == "slow answer"
    assert len(await thread.turns()) == 1  # the refused input changed nothing


async def test_enqueue_if_busy_runs_the_input_as_its_own_turn_and_returns_its_result(
    make_app: Any,
) -> None:
    app, _ = await make_app([Step(text="first", delay=0.2), "second"])
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("one"))
    await asyncio.sleep(0.05)

    second = await thread.run("two", enqueue_if_busy=True)

    assert (await first).text == "first"
    assert second.text == "second"
    turns = await thread.turns()
    assert [(t.number, t.status, t.input[0]["text"]) for t in turns] == [
        (1, "completed", "one"),
        (2, "completed", "two"),
    ]
    assert await thread.inbox() == []


async def test_enqueued_inputs_run_in_order_and_subscribers_see_them(make_app: Any) -> None:
    app, _ = await make_app(["a", "b", "c"])
    thread = await app.threads.start()
    subscription = thread.subscribe()

    for text in ("1", "2", "3"):
        await thread.enqueue(text)
    completed: list[str] = []
    async for event in subscription:
        if event.type == "completed":
            completed.append(event.params["text"])
            if len(completed) == 3:
                break

    assert completed == ["a", "b", "c"]
    assert [t.input[0]["text"] for t in await thread.turns()] == ["1", "2", "3"]


async def test_the_same_client_key_returns_the_same_turn_and_stores_nothing_new(
    make_app: Any,
) -> None:
    app, _ = await make_app(["only once"])
    thread = await app.threads.start()

    first = await thread.run("hello", client_key="k1")
    again = await thread.run("hello", client_key="k1")

    assert again.turn_id == first.turn_id
    assert again.text == "only once"
    assert len(await thread.turns()) == 1
    assert len(await thread.items()) == 2


async def test_enqueue_with_a_client_key_is_idempotent(make_app: Any) -> None:
    app, _ = await make_app([Step(text="x", delay=0.2)])
    thread = await app.threads.start()
    running = asyncio.create_task(thread.run("busy"))
    await asyncio.sleep(0.05)
    await thread.interrupt()
    await asyncio.gather(running, return_exceptions=True)
    app._engine.closing = True  # keep the entries queued so they can be inspected

    one = await thread.enqueue("later", client_key="k")
    two = await thread.enqueue("later", client_key="k")

    assert one.entry_id == two.entry_id
    assert [e.entry_id for e in await thread.inbox()] == [one.entry_id]


async def test_queued_input_that_another_app_runs_returns_its_result_here(
    make_store: Any,
) -> None:
    from threadline.testing import ScriptedModel, check_invariants

    there = ScriptedModel([Step(text="first", delay=0.3), "second, run there"])
    here = ScriptedModel([])
    async with (
        tl.Threadline(agents=[tl.Agent(name="a")], store=make_store(), model=there) as app_there,
        tl.Threadline(agents=[tl.Agent(name="a")], store=make_store(), model=here) as app_here,
    ):
        running_there = await app_there.threads.start()
        first = asyncio.create_task(running_there.run("one"))
        await eventually(lambda: there.requests)
        thread = await app_here.threads.resume(running_there.id)

        stream = thread.run_streamed("two", on_busy="enqueue")
        events = [e async for e in stream]

        assert stream.outcome is not None
        assert stream.outcome.kind == "enqueued"
        assert stream.result.text == "second, run there"
        assert (await first).text == "first"
        assert events[0].type == "turn_started"
        assert events[-1].type == "completed"
        turn_id = stream.result.turn_id
        assert [e.seq for e in events] == [
            e.seq for e in await thread.events() if e.turn_id == turn_id
        ]
        assert here.requests == []
        assert await check_invariants(app_here.store) == []


async def test_a_repeated_queued_input_returns_the_same_result_to_both_callers(
    make_app: Any,
) -> None:
    app, _ = await make_app([Step(text="first", delay=0.3), "second"])
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("one"))
    await eventually(lambda: app._engine.active)  # pyright: ignore[reportPrivateUsage]

    results = await asyncio.gather(
        thread.run("two", on_busy="enqueue", client_key="k"),
        thread.run("two", on_busy="enqueue", client_key="k"),
    )

    assert (await first).text == "first"
    assert [r.text for r in results] == ["second", "second"]
    assert results[0].turn_id == results[1].turn_id
    assert len(await thread.turns()) == 2


async def test_input_queued_again_by_its_client_key_after_it_ran_does_not_block_the_queue(
    make_app: Any,
) -> None:
    app, _ = await make_app(["first", "second"])
    thread = await app.threads.start()
    queued = await thread.enqueue("once", client_key="k")
    await eventually(lambda: _completed(thread, 1))

    again = await thread.enqueue("once", client_key="k")
    await thread.enqueue("next")

    assert again.entry_id == queued.entry_id
    await eventually(lambda: _completed(thread, 2))
    assert [t.input for t in await thread.turns()] == [
        [{"type": "text", "text": "once"}],
        [{"type": "text", "text": "next"}],
    ]
    assert await thread.inbox() == []


async def _completed(thread: tl.Thread, count: int) -> bool:
    return [t.status for t in await thread.turns()] == ["completed"] * count
