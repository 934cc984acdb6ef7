from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import threadline as tl
from threadline.testing import tool_call
from threadline.types import ToolResult


async def test_scheduled_input_fires_once_through_recovery(make_app: Any) -> None:
    app, _ = await make_app(["reminder handled"])
    thread = await app.threads.start()

    timer = await thread.schedule("remind me", delay=0.1)
    later = await thread.schedule("much later", at=time.time() + 3600)
    assert [t.timer_id for t in await thread.scheduled()] == [timer.timer_id, later.timer_id]
    await (await app.recover()).wait()
    assert await thread.turns() == []

    await asyncio.sleep(0.15)
    report = await app.recover()
    await report.wait()
    await (await app.recover()).wait()

    assert report.timers_fired == 1
    turns = await thread.turns()
    assert [(t.input[0]["text"], t.status) for t in turns] == [("remind me", "completed")]
    assert await thread.cancel_scheduled(later.timer_id) is True
    assert await thread.scheduled() == []


async def test_a_scheduled_tool_call_runs_as_the_first_step_of_its_turn(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, model = await make_app(["It is 18 degrees."], tools=[weather_tool])
    thread = await app.threads.start()

    await thread.schedule(
        tl.ScheduledCall(name="get_weather", arguments={"city": "Oslo"}), at=time.time() - 1
    )
    await (await app.recover()).wait()

    (result,) = [i.payload for i in await thread.items() if isinstance(i.payload, ToolResult)]
    assert result.output == '{"city":"Oslo","temp_c":18}'
    assert [i.type for i in model.requests[0].items] == ["tool_call", "tool_result"]


async def test_a_tool_schedules_an_effect_with_its_result(make_app: Any) -> None:
    @tl.tool
    async def follow_up(minutes: int, thread: tl.ThreadState[Any]) -> str:
        """Plan a follow-up."""
        thread.schedule_effect("follow up now", delay=minutes * 60)
        return f"{len(await thread.get_scheduled_effects())} scheduled"

    app, _ = await make_app([tool_call("follow_up", {"minutes": 5}), "ok"], tools=[follow_up])
    thread = await app.threads.start()

    result = await thread.run("remind me in 5")

    (scheduled,) = await thread.scheduled()
    assert scheduled.input == [{"type": "text", "text": "follow up now"}]
    assert scheduled.due_at > time.time() + 200
    assert "1 scheduled" in next(
        i.payload.output for i in result.items if isinstance(i.payload, ToolResult)
    )


async def test_bad_schedules_are_refused(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()
    with pytest.raises(tl.InvalidInputError, match="exactly one"):
        await thread.schedule("x")
    with pytest.raises(tl.InvalidInputError, match="exactly one"):
        await thread.schedule("x", at=1.0, delay=1.0)
    with pytest.raises(tl.InvalidInputError, match="NUL"):
        await thread.schedule("bad \x00", delay=1)
    assert await thread.scheduled() == []
