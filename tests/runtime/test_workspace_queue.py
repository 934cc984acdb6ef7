"""`queue_message`: durable, ordered input that joins the running turn before its next model
step, or starts a turn on an idle thread (both stores)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.testing import Step, eventually, tool_call
from threadline.types import InboxEntry


def texts(items: Any) -> list[tuple[str, str]]:
    return [(i.type, i.text or getattr(i.payload, "output", "")) for i in items]


async def test_messages_a_tool_queues_join_the_turn_before_its_next_model_step_in_order(
    make_app: Any,
) -> None:
    entries: list[InboxEntry] = []

    @tl.tool
    async def plan(thread: tl.ThreadState[Any]) -> str:
        """Plan the next steps."""
        entries.append(await thread.queue_message("first, check stock"))
        entries.append(await thread.queue_message("then, book a courier", sender="planner"))
        return "planned"

    app, model = await make_app([tool_call("plan"), "Stock checked; courier booked."], tools=[plan])
    thread = await app.threads.start()

    # A client key names the turn's input; messages that join the turn are others.
    result = await thread.run("ship it", client_key="order-1")

    assert [e.kind for e in entries] == ["steer", "steer"]
    assert len(await thread.turns()) == 1
    assert texts(model.requests[1].items) == [
        ("user_message", "ship it"),
        ("tool_call", ""),
        ("tool_result", "planned"),
        ("user_message", "first, check stock"),
        ("user_message", "then, book a courier"),
    ]
    assert model.requests[1].items[-1].payload.sender == "planner"  # type: ignore[union-attr]
    assert result.status == "completed"
    assert await thread.inbox() == []


async def test_a_message_queued_on_an_idle_thread_starts_a_turn(make_app: Any) -> None:
    app, model = await make_app(["Hello Ann."])
    thread = await app.threads.start()

    entry = await thread.queue_message("hi, I am Ann", client_key="k1")
    again = await thread.queue_message("hi, I am Ann", client_key="k1")

    assert entry.kind == "input"
    assert again.entry_id == entry.entry_id

    async def completed() -> list[tl.TurnRecord] | None:
        turns = await thread.turns()
        return turns if turns and turns[0].is_final else None

    (turn,) = await eventually(completed)
    assert (turn.input[0]["text"], turn.status) == ("hi, I am Ann", "completed")
    assert texts(model.requests[0].items) == [("user_message", "hi, I am Ann")]


async def test_a_message_queued_from_outside_steers_the_running_turn(make_app: Any) -> None:
    gate = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Take a while."""
        await gate.wait()
        return "slow done"

    app, model = await make_app([tool_call("slow"), "Both handled."], tools=[slow])
    thread = await app.threads.start()
    running = asyncio.create_task(thread.run("start"))
    await eventually(lambda: model.requests)

    entry = await thread.queue_message("and hurry")
    gate.set()
    await running

    assert entry.kind == "steer"
    assert len(await thread.turns()) == 1
    assert texts(model.requests[1].items)[-1] == ("user_message", "and hurry")


async def test_a_message_queued_after_the_turns_last_step_gets_a_turn_of_its_own(
    make_app: Any,
) -> None:
    app, model = await make_app([Step(text="slow " * 10, delta_delay=0.02), "second turn"])
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("one"))
    await eventually(lambda: model.requests)

    await thread.queue_message("two")
    await first

    async def both() -> list[tl.TurnRecord] | None:
        turns = await thread.turns()
        return turns if len(turns) == 2 and turns[1].is_final else None

    turns = await eventually(both)
    assert [t.input[0]["text"] for t in turns] == ["one", "two"]


async def test_bad_queued_messages_are_refused(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    for bad in ("", "nul \x00", 42):
        with pytest.raises(tl.InvalidInputError):
            await thread.queue_message(bad)  # type: ignore[arg-type]
    assert await thread.inbox() == []
    assert await thread.turns() == []
