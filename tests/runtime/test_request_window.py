from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.testing import Step, tool_call
from threadline.types import SystemEvent, ToolCall, ToolResult


async def fill(thread: tl.Thread, turns: int) -> None:
    for n in range(turns):
        await thread.run(f"message number {n} " + "padding " * 40)


async def test_drop_keeps_the_newest_history_and_never_splits_a_call(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    steps: list[Any] = ["ok"] * 6 + [tool_call("get_weather", {"city": "Oslo"}), "Cold."]
    app, model = await make_app(
        steps,
        tools=[weather_tool],
        context_window=tl.ContextWindow(max_tokens=700, reserve_tokens=100),
    )
    thread = await app.threads.start()
    await fill(thread, 6)

    result = await thread.run("weather in Oslo?")

    assert result.text == "Cold."
    last = model.requests[-1].items
    assert len(last) < len(await thread.items())  # the stored thread keeps everything
    assert last[-1].type == "tool_result" and last[-2].type == "tool_call"
    calls = {i.payload.tool_call_id for i in last if isinstance(i.payload, ToolCall)}
    results = {i.payload.tool_call_id for i in last if isinstance(i.payload, ToolResult)}
    assert calls == results
    assert last[0].type == "user_message"  # a kept stretch starts with a question


def summarizing(request: tl.ModelRequest) -> Step:
    if "Summarise the conversation" in (request.instructions or ""):
        return Step(text=f"summary of {len(request.items)} items")
    return Step(text="ok")


async def test_summarize_stores_a_summary_that_later_requests_carry(make_app: Any) -> None:
    app, model = await make_app(
        [summarizing] * 40,
        context_window=tl.ContextWindow(max_tokens=700, reserve_tokens=100, strategy="summarize"),
    )
    thread = await app.threads.start()
    await fill(thread, 9)

    events = [e async for e in thread.run_streamed("what did we do?")]

    summaries = [
        i
        for i in await thread.items()
        if isinstance(i.payload, SystemEvent) and i.payload.phase == "summary"
    ]
    assert summaries  # the window overflowed, so older history was folded into a summary
    last = model.requests[-1].items
    first = last[0].payload
    assert isinstance(first, SystemEvent)
    assert first == summaries[-1].payload  # the newest summary stands in for what it covers
    assert first.message.startswith("Summary of the earlier conversation: summary of ")
    covered = first.data["through_seq"]
    assert all(i.seq > covered for i in last[1:])
    assert last[-1].text == "what did we do?"
    if any(e.type == "system_event" for e in events):
        assert {e.params["phase"] for e in events if e.type == "system_event"} == {"summary"}
    model.steps = model.steps[: len(model.requests)]  # the rest of the script is spare


def test_bad_windows_are_refused() -> None:
    with pytest.raises(tl.ConfigurationError):
        tl.ContextWindow(max_tokens=100, reserve_tokens=200)
    with pytest.raises(tl.ConfigurationError):
        tl.ContextWindow(max_tokens=1000, strategy="guess")  # type: ignore[arg-type]
