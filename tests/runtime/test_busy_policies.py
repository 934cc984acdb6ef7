from __future__ import annotations

import asyncio
from typing import Any

import pytest

import threadline as tl
from threadline.testing import Step, eventually, tool_call
from threadline.types import UserMessage


async def test_interrupt_cancels_the_running_turn_and_starts_the_new_one(make_app: Any) -> None:
    app, _ = await make_app([Step(text="long answer", delay=5), "short"])
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("one"))
    await asyncio.sleep(0.05)

    second = await thread.run("two", on_busy="interrupt")

    with pytest.raises(tl.TurnCancelledError):
        await first
    assert second.text == "short"
    assert [t.status for t in await thread.turns()] == ["cancelled", "completed"]


async def test_steer_joins_the_running_turn_before_its_next_model_step(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    gate = asyncio.Event()

    @tl.tool
    async def wait_a_bit() -> str:
        """Wait."""
        await gate.wait()
        return "waited"

    app, model = await make_app(
        [tool_call("wait_a_bit", {}), "Rome it is."], tools=[weather_tool, wait_a_bit]
    )
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("weather please"))
    await asyncio.sleep(0.05)

    steered = asyncio.create_task(thread.run("actually, Rome", on_busy="steer"))
    await asyncio.sleep(0.05)
    gate.set()

    result = await first
    assert (await steered).turn_id == result.turn_id
    assert len(await thread.turns()) == 1
    last_request = model.requests[-1].items
    assert [i.type for i in last_request][-3:] == ["tool_call", "tool_result", "user_message"]
    assert isinstance(last_request[-1].payload, UserMessage)
    assert last_request[-1].text == "actually, Rome"


async def test_an_unknown_policy_is_refused(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    with pytest.raises(tl.InvalidInputError, match="on_busy"):
        await thread.run("x", on_busy="sometimes")  # type: ignore[arg-type]


async def test_steering_input_a_turn_did_not_take_gets_its_own_turn(make_app: Any) -> None:
    app, _ = await make_app([Step(text="slow " * 20, delta_delay=0.02), "for the steer"])
    thread = await app.threads.start()
    first = asyncio.create_task(thread.run("one"))
    await asyncio.sleep(0.05)

    steered = asyncio.create_task(thread.run("also this", on_busy="steer"))
    await asyncio.sleep(0.05)
    await first

    async def both_done() -> list[tl.TurnRecord] | None:
        turns = await thread.turns()
        return turns if len(turns) == 2 and all(t.is_final for t in turns) else None

    turns = await eventually(both_done)
    assert turns[1].input[0]["text"] == "also this"
    steered.cancel()
