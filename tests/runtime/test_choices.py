from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import threadline as tl
from threadline.testing import ScriptedModel, tool_call
from threadline.types import ToolResult


class Seat(BaseModel):
    seat: str


def make_booking_tool(log: list[str], *, idempotent: bool = False) -> tl.Tool:
    @tl.tool(idempotent=idempotent)
    async def book(flight: str, thread: tl.ThreadState[Any]) -> str:
        """Book a flight, asking the traveller for a seat."""
        log.append(f"hold {flight}")
        choice = await thread.await_choice("Which seat?", Seat)
        log.append(f"seat {choice.seat}")
        return f"booked {flight} seat {choice.seat}"

    return book


async def test_a_choice_pauses_durably_and_the_tool_continues_without_running_twice(
    make_app: Any,
) -> None:
    log: list[str] = []
    app, _ = await make_app(
        [tool_call("book", {"flight": "LH1"}, tool_call_id="b1"), "Booked."],
        tools=[make_booking_tool(log)],
    )
    thread = await app.threads.start()

    paused = await thread.run("book LH1")

    assert paused.status == "paused"
    assert paused.pending_input is not None
    assert paused.pending_input.prompt == "Which seat?"
    assert paused.pending_input.schema["required"] == ["seat"]
    assert (await thread.reload()).status == "awaiting_input"
    with pytest.raises(tl.InvalidInputError, match="schema"):
        await thread.resume({"seat": 12})
    assert log == ["hold LH1"]

    result = await thread.resume({"seat": "12A"})

    assert result.text == "Booked."
    assert log == ["hold LH1", "seat 12A"]  # the code before the pause ran once
    outputs = [i.payload.output for i in result.items if isinstance(i.payload, ToolResult)]
    assert outputs == ["booked LH1 seat 12A"]


@pytest.mark.parametrize(
    ("idempotent", "expected_log", "outcome"),
    [
        (True, ["hold LH2", "hold LH2", "seat 3C"], "success"),
        (False, ["hold LH2"], "unknown"),
    ],
)
async def test_a_choice_answered_in_another_process(
    db_path: Path, idempotent: bool, expected_log: list[str], outcome: str
) -> None:
    log: list[str] = []
    tool = make_booking_tool(log, idempotent=idempotent)
    model = ScriptedModel([tool_call("book", {"flight": "LH2"})])
    async with tl.Threadline(
        agents=[tl.Agent(name="a", tools=[tool], model=model)], store=db_path
    ) as first:
        thread = await first.threads.start()
        assert (await thread.run("book")).status == "paused"

    later = ScriptedModel(["ok"])
    async with tl.Threadline(
        agents=[tl.Agent(name="a", tools=[tool], model=later)], store=db_path
    ) as second:
        result = await (await second.threads.resume(thread.id)).resume({"seat": "3C"})

    assert log == expected_log
    (tool_result,) = [i.payload for i in result.items if isinstance(i.payload, ToolResult)]
    assert tool_result.outcome == outcome
    if outcome == "unknown":
        assert "3C" in tool_result.output
