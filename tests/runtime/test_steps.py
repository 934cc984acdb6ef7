"""Step records: each model call and each tool batch of a turn is stored as one step, with its
status, timings, usage and the items it produced, and listed by `thread.steps(turn_id)`."""

from __future__ import annotations

import time
from typing import Any

import pytest

import threadline as tl
from threadline.testing import fail, text, tool_call
from threadline.types import ModelError, Usage


async def test_a_turn_with_a_tool_call_lists_model_tools_model(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, _ = await make_app(
        [
            tool_call("get_weather", {"city": "Rome"}, tool_call_id="c1"),
            text("Sunny.", usage=Usage(input_tokens=30, output_tokens=2)),
        ],
        tools=[weather_tool],
    )
    thread = await app.threads.start()
    before = time.time()

    result = await thread.run("weather in Rome?")

    steps = await thread.steps(result.turn_id)
    items = {i.item_id: i for i in await thread.items()}
    assert [(s.number, s.kind, s.status) for s in steps] == [
        (0, "model", "completed"),
        (1, "tools", "completed"),
        (2, "model", "completed"),
    ]
    assert [[items[i].type for i in s.item_ids] for s in steps] == [
        ["tool_call"],
        ["tool_result"],
        ["agent_message"],
    ]
    # A model step names its model, how long its request took to build and how many items
    # it carried, and, once it streamed, how long its first token took.
    for step, carried in ((steps[0], 1), (steps[2], 3)):
        assert step.data.pop("request_items") == carried
        assert 0 <= step.data.pop("context_seconds") <= 1
        assert 0 <= step.data.pop("first_token_seconds") <= 1
    assert [s.data for s in steps] == [
        {"model": "scripted"},
        {"tools": ["get_weather"]},
        {"model": "scripted"},
    ]
    assert steps[2].usage == Usage(input_tokens=30, output_tokens=2)
    assert steps[0].usage + steps[2].usage == result.usage
    assert steps[1].usage == Usage()
    for step in steps:
        assert step.ended_at is not None
        assert before <= step.started_at <= step.ended_at <= time.time()
        assert (step.thread_id, step.turn_id) == (thread.id, result.turn_id)
    assert steps[0].ended_at <= steps[1].started_at  # type: ignore[operator]
    assert len({s.step_id for s in steps}) == 3


async def test_a_tool_batch_paused_for_approval_ends_as_one_completed_step(
    make_app: Any,
) -> None:
    @tl.tool(needs_approval=True)
    async def transfer(to: str, amount: int) -> str:
        """Send money."""
        return f"sent {amount} to {to}"

    app, _ = await make_app(
        [tool_call("transfer", {"to": "ann", "amount": 5}, tool_call_id="c1"), "Sent."],
        tools=[transfer],
    )
    thread = await app.threads.start()
    paused = await thread.run("pay ann 5")
    assert paused.status == "paused"

    (model, tools) = await thread.steps(paused.turn_id)
    assert (tools.number, tools.kind, tools.status, tools.ended_at) == (1, "tools", "paused", None)
    items = {i.item_id: i for i in await thread.items()}
    assert [items[i].type for i in tools.item_ids] == ["approval_request"]

    await thread.approve("c1")
    result = await thread.resume_turn()

    steps = await thread.steps(result.turn_id)
    items = {i.item_id: i for i in await thread.items()}
    assert [(s.number, s.kind, s.status) for s in steps] == [
        (0, "model", "completed"),
        (1, "tools", "completed"),
        (2, "model", "completed"),
    ]
    done = steps[1]
    assert (done.step_id, done.started_at) == (tools.step_id, tools.started_at)
    assert done.ended_at is not None and done.ended_at >= done.started_at
    assert [items[i].type for i in done.item_ids] == ["approval_request", "tool_result"]
    assert done.data == {"tools": ["transfer"]}
    assert steps[0] == model


async def test_a_paused_tool_batch_of_a_cancelled_turn_ends_cancelled(make_app: Any) -> None:
    @tl.tool(needs_approval=True)
    async def transfer(to: str) -> str:
        """Send money."""
        return "sent"

    app, _ = await make_app(
        [tool_call("transfer", {"to": "ann"}, tool_call_id="c1")], tools=[transfer]
    )
    thread = await app.threads.start()
    paused = await thread.run("pay ann")

    assert await thread.interrupt() is True

    steps = await thread.steps(paused.turn_id)
    items = {i.item_id: i for i in await thread.items()}
    assert [(s.number, s.kind, s.status) for s in steps] == [
        (0, "model", "completed"),
        (1, "tools", "cancelled"),
    ]
    assert [items[i].type for i in steps[1].item_ids] == ["approval_request", "tool_result"]
    assert steps[1].ended_at is not None


async def test_a_model_step_that_fails_is_stored_as_failed(make_app: Any) -> None:
    app, _ = await make_app([fail(ModelError("overloaded", retryable=False), after_text="Hel")])
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError) as failed:
        await thread.run("hi")

    assert failed.value.turn is not None
    (step,) = await thread.steps(failed.value.turn.turn_id)
    items = {i.item_id: i for i in await thread.items()}
    assert (step.number, step.kind, step.status) == (0, "model", "failed")
    assert [(items[i].type, items[i].status) for i in step.item_ids] == [
        ("agent_message", "failed")
    ]


async def test_steps_of_another_threads_turn_are_not_listed(make_app: Any) -> None:
    app, _ = await make_app(["Hello."])
    mine = await app.threads.start(user_id="ann")
    theirs = await app.threads.start(user_id="bob")
    result = await mine.run("hi")

    assert len(await mine.steps(result.turn_id)) == 1
    assert await theirs.steps(result.turn_id) == []
    assert await mine.steps("turn_unknown") == []


async def test_steps_are_numbered_on_from_the_store_after_a_restart(make_store: Any) -> None:
    @tl.tool(needs_approval=True)
    async def transfer(to: str) -> str:
        """Send money."""
        return "sent"

    from threadline.testing import ScriptedModel

    first = ScriptedModel([tool_call("transfer", {"to": "ann"}, tool_call_id="c1")])
    async with tl.Threadline(
        agents=[tl.Agent(name="a", tools=[transfer])], store=make_store(), model=first
    ) as app:
        thread = await app.threads.start()
        paused = await thread.run("pay ann")
        await thread.approve("c1")

    second = ScriptedModel([tool_call("transfer", {"to": "bob"}, tool_call_id="c2"), "Done."])
    async with tl.Threadline(
        agents=[tl.Agent(name="a", tools=[transfer])], store=make_store(), model=second
    ) as app:
        thread = await app.threads.resume(thread.id)
        waiting = await thread.resume_turn()  # the second call waits for approval too
        await thread.approve("c2")
        result = await thread.resume_turn()
        steps = await thread.steps(paused.turn_id)

    assert waiting.status == "paused"
    assert result.status == "completed"
    assert [(s.number, s.kind, s.status) for s in steps] == [
        (0, "model", "completed"),
        (1, "tools", "completed"),
        (2, "model", "completed"),
        (3, "tools", "completed"),
        (4, "model", "completed"),
    ]
    first.assert_done()
    second.assert_done()


async def test_a_batch_answered_by_the_caller_ends_completed_when_the_turn_goes_on(
    make_app: Any,
) -> None:
    lookup = tl.ExternalTool(
        name="lookup_order",
        description="Look an order up.",
        parameters={"type": "object", "properties": {"id": {"type": "string"}}},
    )
    app, _ = await make_app([tool_call("lookup_order", {"id": "1"}, tool_call_id="x1"), "Ships."])
    thread = await app.threads.start()
    paused = await thread.run("order 1?", external_tools=[lookup])
    (_, waiting) = await thread.steps(paused.turn_id)
    assert (waiting.kind, waiting.status) == ("tools", "paused")

    await thread.submit_tool_results({"x1": "ships today"})
    await thread.resume_turn()

    steps = await thread.steps(paused.turn_id)
    assert [(s.number, s.kind, s.status) for s in steps] == [
        (0, "model", "completed"),
        (1, "tools", "completed"),
        (2, "model", "completed"),
    ]
    assert steps[1].ended_at is not None and steps[1].step_id == waiting.step_id
