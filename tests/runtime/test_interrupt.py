from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.runtime._history import visible_history
from threadline.testing import Step, tool_call
from threadline.types import AgentMessage, ToolCall, ToolResult


async def test_interrupt_mid_stream_keeps_partial_text_and_leaves_a_valid_history(
    make_app: Any,
) -> None:
    app, _ = await make_app(
        [Step(text="one two three four five six", delta_delay=0.05), "Back again."]
    )
    thread = await app.threads.start()
    stream = thread.run_streamed("count")
    seen: list[tl.Event] = []

    with pytest.raises(tl.TurnCancelledError) as caught:
        async for event in stream:
            seen.append(event)
            if event.type == "agent_message_delta" and len(seen) > 5:
                await thread.interrupt()

    assert caught.value.turn is not None
    assert caught.value.turn.status == "cancelled"
    assert seen[-1].type == "cancelled"
    items = await thread.items()
    partial = [i for i in items if isinstance(i.payload, AgentMessage)]
    assert len(partial) == 1
    assert partial[0].status == "cancelled"
    streamed = "".join(e.params["delta"] for e in seen if e.type == "agent_message_delta")
    assert partial[0].payload.text == streamed  # type: ignore[union-attr]
    assert (await thread.reload()).status == "idle"
    # The thread goes on; the cut-off message is not handed to the model as an answer.
    result = await thread.run("again")
    assert result.text == "Back again."


async def test_cancelling_the_awaiting_task_interrupts_a_running_tool(make_app: Any) -> None:
    started = asyncio.Event()

    @tl.tool
    async def slow(seconds: float) -> str:
        """Sleep."""
        started.set()
        await asyncio.sleep(seconds)
        return "done"

    app, model = await make_app([tool_call("slow", {"seconds": 30}), "never"], tools=[slow])
    model.steps.pop()  # the second step is never reached
    thread = await app.threads.start()

    task = asyncio.create_task(thread.run("go"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    turn = (await thread.turns())[0]
    assert turn.status == "cancelled"
    items = await thread.items()
    calls = [i.payload for i in items if isinstance(i.payload, ToolCall)]
    results = [i.payload for i in items if isinstance(i.payload, ToolResult)]
    assert len(calls) == 1
    assert len(results) == 1
    assert results[0].tool_call_id == calls[0].tool_call_id
    assert results[0].outcome == "cancelled"
    assert "interrupted" in results[0].output
    assert visible_history(items) == items  # nothing to repair: every call has its result


async def test_interrupt_without_a_running_turn_returns_false(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    assert await thread.interrupt() is False


async def test_a_model_error_mid_stream_fails_the_turn_and_keeps_the_partial_text(
    make_app: Any,
) -> None:
    from threadline.testing import fail

    app, _ = await make_app(
        [fail(tl.ModelError("connection lost", retryable=True), after_text="Half an ans")]
    )
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError) as caught:
        await thread.run("hi")

    assert caught.value.error_code == "model_error"
    items = await thread.items()
    assert [(i.type, i.status) for i in items] == [
        ("user_message", "completed"),
        ("agent_message", "failed"),
        ("error", "completed"),
    ]
    assert items[1].text == "Half an ans"


async def test_drop_on_error_hides_the_failed_turn_from_the_model(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    from threadline.testing import fail

    app, model = await make_app(
        [
            tool_call("get_weather", {"city": "Oslo"}),
            fail(tl.ModelError("boom")),
            "fresh start",
        ],
        tools=[weather_tool],
        persist_partial_on_error=False,
    )
    thread = await app.threads.start()
    with pytest.raises(tl.TurnFailedError):
        await thread.run("Oslo?")

    await thread.run("again")

    assert [(i.type, i.text) for i in model.requests[-1].items] == [
        ("user_message", "Oslo?"),
        ("user_message", "again"),
    ]
    stored = [i.type for i in await thread.items()]
    assert stored[:3] == ["user_message", "tool_call", "tool_result"]  # the log keeps all


class SlowWrites(tl.SQLiteStore):
    """Writes that take a while, so that an interrupt arrives in the middle of one."""

    async def write_turn(self, write: Any) -> None:
        await asyncio.sleep(0.2)
        await super().write_turn(write)


async def test_an_interrupt_during_a_commit_never_writes_the_same_items_twice(db_path: Any) -> None:
    from threadline.testing import ScriptedModel, check_invariants

    model = ScriptedModel(["first answer"])
    store = SlowWrites(db_path)
    async with tl.Threadline(agents=[tl.Agent(name="a", model=model)], store=store) as app:
        thread = await app.threads.start()
        task = asyncio.create_task(thread.run("hi"))
        await asyncio.sleep(0.1)  # the final commit is in flight now
        task.cancel()
        with pytest.raises((asyncio.CancelledError, tl.TurnCancelledError)):
            await task
        turns = await thread.turns()
        assert turns[0].is_final
        assert await check_invariants(app.store) == []


async def test_a_bad_model_spec_fails_before_anything_is_stored(db_path: Any) -> None:
    agent = tl.Agent(name="a", model="no-such-backend:x")
    async with tl.Threadline(agents=[agent], store=db_path) as app:
        thread = await app.threads.start()
        with pytest.raises(tl.ConfigurationError):
            await thread.run("hi")
        assert await thread.turns() == []
        assert (await thread.reload()).status == "idle"


async def test_an_interrupt_right_after_the_turn_started_ends_it_cancelled(make_app: Any) -> None:
    app, _ = await make_app([Step(text="too late", delay=30), "Back again."])
    thread = await app.threads.start()
    stream = thread.run_streamed("hello")

    with pytest.raises(tl.TurnCancelledError):
        async for event in stream:
            if event.type == "turn_started":
                assert await thread.interrupt()

    assert (await thread.turns())[0].status == "cancelled"
    assert (await thread.reload()).status == "idle"
    assert (await thread.run("again")).text == "Back again."
