"""A model request carries the thread's history as it stood when the request was made: the
items a turn adds afterwards stay out of it, though it is not a copy of a long thread; and on
a thread with hidden items it is what `visible_history` gives, kept up to date as items come."""

from __future__ import annotations

from typing import Any

import threadline as tl
from threadline.runtime._history import HistoryIndex, request_history, visible_history
from threadline.testing import tool_call
from threadline.types import (
    AgentMessage,
    Item,
    Payload,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)


async def test_a_request_keeps_the_history_it_was_made_with(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, model = await make_app(
        ["Hello!", tool_call("get_weather", {"city": "Oslo"}), "Mild."], tools=[weather_tool]
    )
    thread = await app.threads.start(user_id="me")
    await thread.run("Hi")

    await thread.run("Weather in Oslo?")

    first, second, third = (request.items for request in model.requests)
    assert [i.type for i in first] == ["user_message"]
    assert [i.type for i in second] == ["user_message", "agent_message", "user_message"]
    assert [i.type for i in third] == [*(i.type for i in second), "tool_call", "tool_result"]
    stored = await thread.items()
    assert third == stored[:5] and stored[:5] == third
    assert third[-1] == stored[4] and third[1:3] == stored[1:3] and len(third) == 5


def _item(seq: int, turn: str, payload: Payload) -> Item:
    return Item(
        item_id=f"item_{seq}",
        thread_id="thr_1",
        turn_id=turn,
        seq=seq,
        status="completed",
        payload=payload,
        created_at=float(seq),
    )


def _turn(seq: int, turn: str, call: str) -> list[Item]:
    return [
        _item(seq, turn, UserMessage(content=(TextPart(text="Weather?"),))),
        _item(seq + 1, turn, ToolCall(tool_call_id=call, name="get_weather", arguments="{}")),
        _item(seq + 2, turn, ToolResult(tool_call_id=call, name="get_weather", output="18")),
        _item(seq + 3, turn, AgentMessage(text="Mild.")),
    ]


def test_the_request_history_follows_a_growing_thread_with_edits() -> None:
    history: list[Item] = []
    index = HistoryIndex()
    steps: list[list[Item]] = [
        _turn(1, "turn_1", "call_1"),
        [
            *_turn(5, "turn_2", "call_2")[:2],
            _item(
                7, "turn_2", SystemEvent(phase="discard", message="", data={"turn_id": "turn_2"})
            ),
        ],
        _turn(8, "turn_3", "call_3"),
        [_item(12, None, SystemEvent(phase="deleted", message="", data={"item_id": "item_9"}))],
        _turn(13, "turn_4", "call_4")[:2],  # a call not answered yet
        _turn(13, "turn_4", "call_4")[2:],
    ]
    for added in steps:
        history.extend(added)
        index.add(added)

        requested = request_history(history, index)

        expected = visible_history(history)  # synthetic results get new ids: compare contents
        assert [(i.seq, i.payload) for i in requested] == [(i.seq, i.payload) for i in expected]
