"""`terminate(reason)` ends a thread for good, wherever its turn runs; later input is refused
with `ThreadTerminatedError` and changes nothing (both stores)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import threadline as tl
from threadline.runtime._termination import terminate
from threadline.testing import (
    ScriptedModel,
    Step,
    check_invariants,
    eventually,
    tool_call,
    tool_calls,
)
from threadline.types import (
    TERMINATED_PHASE,
    AgentMessage,
    InboxEntry,
    SystemEvent,
    ToolResult,
    UserMessage,
    new_id,
)


def reasons(items: list[tl.Item]) -> list[str]:
    return [
        i.payload.message
        for i in items
        if isinstance(i.payload, SystemEvent) and i.payload.phase == TERMINATED_PHASE
    ]


async def snapshot(thread: tl.Thread) -> tuple[Any, ...]:
    record = await thread.reload()
    timers = await thread._engine.store.list_timers(thread.id, pending_only=False)  # pyright: ignore[reportPrivateUsage]
    return (
        record.status,
        record.last_item_seq,
        record.last_event_seq,
        await thread.turns(),
        await thread.inbox(),
        timers,
    )


async def refused_everywhere(thread: tl.Thread) -> None:
    """Every kind of input raises `ThreadTerminatedError` and changes nothing."""
    before = await snapshot(thread)
    attempts: list[Any] = [
        lambda: thread.run("again"),
        lambda: thread.run("again", on_busy="enqueue"),
        lambda: thread.run("again", on_busy="interrupt"),
        lambda: thread.enqueue("queued"),
        lambda: thread.queue_message("queued"),
        lambda: thread.schedule("later", delay=60),
        lambda: thread.append([UserMessage(content=(tl.TextPart(text="x"),))]),
        lambda: thread.inject_message("x"),
        lambda: thread.unarchive(),
        lambda: thread.archive(),
        lambda: thread.resume_turn(),
        lambda: thread.approve("call_x"),
        lambda: thread.answer({"x": 1}),
        lambda: thread.submit_tool_results({"call_x": "out"}),
    ]
    for attempt in attempts:
        with pytest.raises(tl.ThreadTerminatedError) as caught:
            await attempt()
        assert caught.value.code == "thread_terminated"
        assert caught.value.context["thread_id"] == thread.id
    assert await snapshot(thread) == before


async def test_terminating_an_idle_thread_records_the_reason_and_refuses_input(
    make_app: Any,
) -> None:
    app, _ = await make_app(["hello"])
    thread = await app.threads.start()
    await thread.run("hi")
    timer = await thread.schedule("later", delay=3600)
    events = thread.subscribe()

    record = await thread.terminate("the customer closed the ticket")

    assert record.status == "terminated" and thread.terminated
    assert (await thread.reload()).status == "terminated"
    items = await thread.items()
    assert reasons(items) == ["the customer closed the ticket"]
    assert items[-1].turn_id is None
    assert await thread.scheduled() == []
    stored = await thread._engine.store.list_timers(thread.id, pending_only=False)  # pyright: ignore[reportPrivateUsage]
    assert [(t.timer_id, t.status) for t in stored] == [(timer.timer_id, "cancelled")]
    seen = [await anext(events), await anext(events)]
    assert [e.type for e in seen] == ["item_started", "item_completed"]
    events.close()

    await refused_everywhere(thread)

    again = await thread.terminate("twice")
    assert again.status == "terminated"
    assert reasons(await thread.items()) == ["the customer closed the ticket"]
    assert (await app.threads.resume(thread.id)).terminated


async def test_terminating_a_running_turn_cancels_it_and_keeps_its_partial_output(
    make_app: Any,
) -> None:
    app, model = await make_app([Step(text="one two three four five six", delta_delay=0.05)])
    thread = await app.threads.start()
    stream = thread.run_streamed("count")
    seen: list[tl.Event] = []

    with pytest.raises(tl.TurnCancelledError) as caught:
        async for event in stream:
            seen.append(event)
            if event.type == "agent_message_delta" and len(seen) > 4:
                await thread.terminate("enough")

    assert caught.value.turn is not None
    assert caught.value.turn.status == "cancelled"
    assert caught.value.turn.error == {"code": "thread_terminated", "message": "enough"}
    assert "terminated" in str(caught.value)
    items = await thread.items()
    partial = next(i for i in items if isinstance(i.payload, AgentMessage))
    streamed = "".join(e.params["delta"] for e in seen if e.type == "agent_message_delta")
    assert partial.status == "cancelled" and partial.text == streamed != ""
    assert reasons(items) == ["enough"]
    assert items[-1].turn_id == caught.value.turn.turn_id  # recorded by the turn's ending
    (announced,) = [e for e in seen if e.type == "system_event"]
    assert announced.params["message"] == "enough"
    assert seen[-1].type == "cancelled"
    assert seen[-1].params["reason"] == TERMINATED_PHASE
    assert len(model.requests) == 1


async def test_terminating_drops_queued_input_and_answers_the_running_tool(make_app: Any) -> None:
    started = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Take a while."""
        started.set()
        await asyncio.sleep(30)
        return "never"

    app, _ = await make_app([tool_call("slow")], tools=[slow])
    thread = await app.threads.start()
    running = asyncio.create_task(thread.run("start"))
    await asyncio.wait_for(started.wait(), 5)
    queued = asyncio.create_task(thread.run("next", on_busy="enqueue"))
    await eventually(thread.inbox)
    await thread.queue_message("steer me")
    await thread.schedule("later", delay=3600)

    await thread.terminate("shutting down")

    with pytest.raises(tl.TurnCancelledError):
        await running
    with pytest.raises(tl.TurnCancelledError):
        await queued
    assert await thread.inbox() == []
    assert await thread.scheduled() == []
    assert [t.status for t in await thread.turns()] == ["cancelled"]
    items = await thread.items()
    (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
    assert result.outcome == "cancelled"
    assert reasons(items) == ["shutting down"]
    await refused_everywhere(thread)


async def test_terminating_a_paused_turn_ends_it_and_refuses_the_approval(make_app: Any) -> None:
    @tl.tool(needs_approval=True)
    async def pay() -> str:
        """Pay."""
        return "paid"

    app, _ = await make_app([tool_call("pay")], tools=[pay])
    thread = await app.threads.start()
    paused = await thread.run("pay")
    (request,) = paused.pending_approvals

    await thread.terminate("fraud suspected")

    (turn,) = await thread.turns()
    assert turn.status == "cancelled"
    with pytest.raises(tl.ThreadTerminatedError):
        await thread.approve(request.tool_call_id)
    assert reasons(await thread.items()) == ["fraud suspected"]
    assert (await thread.reload()).active_turn_id is None
    await refused_everywhere(thread)


async def test_a_tool_that_terminates_finishes_and_the_turn_ends_as_cancelled(
    make_app: Any,
) -> None:
    @tl.tool
    async def close_ticket(thread: tl.ThreadState[Any]) -> str:
        """Close the ticket for good."""
        await thread.terminate("resolved by the agent")
        assert thread.terminated
        with pytest.raises(tl.ThreadTerminatedError):
            await thread.queue_message("one more")
        await asyncio.sleep(0.05)  # the tool still runs to its end
        return "closed"

    @tl.tool
    async def note() -> str:
        """A call of the same step."""
        return "noted"

    @tl.tool(needs_approval=True)
    async def refund() -> str:
        """A call that would wait for a human."""
        return "refunded"

    app, model = await make_app(
        [tool_calls(("close_ticket", {}), ("note", {}), ("refund", {}))],
        tools=[close_ticket, note, refund],
    )
    thread = await app.threads.start()
    await thread.schedule("later", delay=3600)

    with pytest.raises(tl.TurnCancelledError) as caught:
        await thread.run("close it")

    assert caught.value.turn is not None
    assert caught.value.turn.error == {
        "code": "thread_terminated",
        "message": "resolved by the agent",
    }
    items = await thread.items()
    outputs = {
        i.payload.name: (i.payload.output, i.payload.outcome)
        for i in items
        if isinstance(i.payload, ToolResult)
    }
    assert outputs["close_ticket"] == ("closed", "success")
    assert outputs["note"] == ("noted", "success")
    assert outputs["refund"][1] == "cancelled"  # its approval is never awaited
    assert reasons(items) == ["resolved by the agent"]
    assert len(model.requests) == 1  # no model step after the tools
    assert await thread.scheduled() == []
    assert (await thread.reload()).status == "terminated"
    await refused_everywhere(thread)


async def test_a_turn_running_in_another_process_learns_of_it_through_the_store(
    make_store: Any,
) -> None:
    started = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Take a while."""
        started.set()
        await asyncio.sleep(30)
        return "never"

    agent = tl.Agent(name="assistant", tools=[slow])
    runner = tl.Threadline(
        agents=[agent],
        store=make_store(),
        model=ScriptedModel([tool_call("slow")]),
        lease_seconds=1.0,
    )
    other = tl.Threadline(agents=[agent], store=make_store(), model=ScriptedModel([]))
    async with runner, other:
        thread = await runner.threads.start()
        running = asyncio.create_task(thread.run("start"))
        await asyncio.wait_for(started.wait(), 5)

        began = time.monotonic()
        record = await (await other.threads.resume(thread.id)).terminate("from elsewhere")

        assert time.monotonic() - began < 5
        assert record.status == "terminated" and record.active_turn_id is None
        with pytest.raises(tl.TurnCancelledError):
            await running
        items = await thread.items()
        assert reasons(items) == ["from elsewhere"]
        assert items[-1].turn_id is not None  # written by the runner's ending
        with pytest.raises(tl.ThreadTerminatedError):
            await thread.run("again")
    async with make_store() as store:
        assert await check_invariants(store) == []


async def test_a_turn_whose_owner_died_is_ended_by_recovery(make_store: Any) -> None:
    """The owner is gone (its lease expires): terminate stops waiting, recovery ends the turn
    as soon as it claims it, with the reason, and runs nothing more."""
    from threadline.store import BeginTurn, ThreadCursor
    from threadline.types import TurnRecord, new_id

    model = ScriptedModel([])
    agent = tl.Agent(name="assistant")
    async with tl.Threadline(
        agents=[agent], store=make_store(), model=model, lease_seconds=0.5
    ) as app:
        thread = await app.threads.start()
        now = time.time()
        # A turn that a process took and then lost: its lease runs out.
        await app.store.begin_turn(
            BeginTurn(
                turn=TurnRecord(
                    turn_id=new_id("turn"),
                    thread_id=thread.id,
                    number=1,
                    status="running",
                    input=[{"type": "text", "text": "hi"}],
                    created_at=now,
                    updated_at=now,
                ),
                expected=ThreadCursor(last_item_seq=0, last_event_seq=0),
                owner="proc_dead",
                lease_seconds=0.5,
            )
        )

        record = await thread.terminate("owner gone")
        assert record.status == "terminated"

        async def ended() -> bool:
            await (await app.recover()).wait()
            return [t.status for t in await thread.turns()] == ["cancelled"]

        await eventually(ended)
        assert reasons(await thread.items()) == ["owner gone"]
        assert model.requests == []
    async with make_store() as store:
        assert await check_invariants(store) == []


async def test_a_bad_reason_is_refused_and_changes_nothing(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    for bad in (None, "nul \x00"):
        with pytest.raises(tl.InvalidInputError):
            await thread.terminate(bad)  # type: ignore[arg-type]
    assert (await thread.reload()).status == "idle"
    with pytest.raises(tl.NotFoundError):
        await terminate(thread._engine, "thr_missing", "gone")  # pyright: ignore[reportPrivateUsage]


async def test_input_racing_the_termination_is_either_dropped_or_refused(make_app: Any) -> None:
    """The store decides under the thread's lock: whatever input it accepted before the
    termination is dropped by it, whatever came after is refused; none is left behind."""
    app, _ = await make_app()
    thread = await app.threads.start()
    await thread.schedule("keep the thread busy with timers", delay=3600)

    async def submit(n: int) -> str:
        try:
            if n % 3 == 0:
                await thread.schedule(f"timer {n}", delay=3600)
            elif n % 3 == 1:
                await app.store.enqueue(
                    InboxEntry(
                        entry_id=new_id("inbox"),
                        thread_id=thread.id,
                        position=0,
                        input=[{"type": "text", "text": f"queued {n}"}],
                        created_at=time.time(),
                    )
                )
            else:
                await thread.inject_message(f"note {n}")
        except tl.ThreadTerminatedError:
            return "refused"
        return "accepted"

    outcomes = await asyncio.gather(
        *(submit(n) for n in range(10)),
        thread.terminate("race"),
        *(submit(n) for n in range(10, 20)),
    )

    # Which submissions the store saw before the termination depends on scheduling; those
    # it saw after were refused, and nothing of either is left behind.
    submitted = [*outcomes[:10], *outcomes[11:]]
    assert set(submitted) <= {"accepted", "refused"}
    late = await asyncio.gather(*(submit(n) for n in range(20, 26)))
    assert late == ["refused"] * 6
    assert await thread.inbox() == []
    assert await thread.scheduled() == []
    assert await thread.turns() == []
    assert (await thread.reload()).status == "terminated"
    assert reasons(await thread.items()) == ["race"]
    assert await submit(0) == "refused"
