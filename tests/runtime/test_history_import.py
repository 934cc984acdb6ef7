"""A turn can start from history the caller kept elsewhere: it is stored before the turn, in the
same transaction, marked as the caller's, and the model reads it as it was given."""

from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.testing import tool_call
from threadline.types import (
    IMPORTED_PHASE,
    AgentMessage,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)


def _user(text: str) -> UserMessage:
    return UserMessage(content=(TextPart(text=text),))


HISTORY = [
    _user("weather in Oslo?"),
    ToolCall(tool_call_id="call_1", name="lookup", arguments='{"city": "Oslo"}'),
    ToolResult(tool_call_id="call_1", name="lookup", output="rain"),
    AgentMessage(text="It rains in Oslo."),
]


async def test_history_is_stored_before_the_turn_and_read_by_the_model(make_app: Any) -> None:
    app, model = await make_app(["Take an umbrella."])
    thread = await app.threads.start()

    result = await thread.run("and tomorrow?", history=HISTORY)

    assert result.text == "Take an umbrella."
    assert _read(model.requests[0]) == [*HISTORY, _user("and tomorrow?")]
    items = await thread.items()
    assert [i.payload for i in items[:4]] == HISTORY
    assert [i.turn_id for i in items[:5]] == [None] * 5
    marker = items[4].payload
    assert isinstance(marker, SystemEvent)
    assert marker.phase == IMPORTED_PHASE
    assert marker.data == {"turn_id": result.turn_id, "count": 4}
    assert items[5].payload == _user("and tomorrow?")
    assert items[5].turn_id == result.turn_id
    events = await thread.events()
    started = next(e for e in events if e.type == "turn_started")
    assert all(e.turn_id is None for e in events if e.seq < started.seq)
    assert started.seq == 11  # two events for each of the five imported items come first


async def test_a_turn_without_input_answers_the_history(make_app: Any) -> None:
    app, model = await make_app(["It rains."])
    thread = await app.threads.start()

    result = await thread.run(None, history=HISTORY[:3])

    assert result.text == "It rains."
    assert _read(model.requests[0]) == HISTORY[:3]
    turn = (await thread.turns())[0]
    assert turn.input == []


async def test_a_call_id_the_thread_holds_is_stored_under_a_fresh_one(make_app: Any) -> None:
    app, model = await make_app(
        [tool_call("lookup", {"city": "Rome"}, tool_call_id="call_1"), "sun", "noted"],
        tools=[_lookup()],
    )
    thread = await app.threads.start()
    await thread.run("weather in Rome?")

    result = await thread.run("and Oslo?", history=HISTORY)

    stored = [i.payload for i in await thread.items() if isinstance(i.payload, ToolCall)]
    original, fresh = (c.tool_call_id for c in stored)  # type: ignore[union-attr]
    assert original == "call_1"
    assert fresh != "call_1"
    seen = model.requests[-1].items
    assert [p.tool_call_id for p in (i.payload for i in seen) if isinstance(p, ToolResult)] == [
        "call_1",
        fresh,
    ]
    [marker] = [
        i.payload
        for i in await thread.items()
        if isinstance(i.payload, SystemEvent) and i.payload.phase == IMPORTED_PHASE
    ]
    assert marker.data["call_ids"] == {fresh: "call_1"}
    assert result.text == "noted"


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ([HISTORY[0], HISTORY[1]], "has no result"),
        ([HISTORY[0], HISTORY[2]], "no earlier item"),
        ([HISTORY[1], HISTORY[2], HISTORY[1], HISTORY[2]], "repeats the tool call id"),
        ([_user("bad \x00")], "NUL"),
        ([AgentMessage(text="\ud800")], "lone surrogate"),
        ([SystemEvent(phase="x", message="y")], "a history holds"),
    ],
)
async def test_a_history_a_model_could_not_read_is_refused_and_nothing_is_stored(
    make_app: Any, history: list[Any], message: str
) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()

    with pytest.raises(tl.InvalidInputError, match=message):
        await thread.run("go", history=history)

    assert await thread.items() == []
    assert await thread.turns() == []


async def test_a_turn_without_input_answers_items_appended_before(make_app: Any) -> None:
    app, model = await make_app(["hello"])
    thread = await app.threads.start()
    await thread.append([_user("hi")])

    result = await thread.run(None)

    assert result.text == "hello"
    assert _read(model.requests[0]) == [_user("hi")]


async def test_history_and_no_input_cannot_be_queued_or_steered(make_app: Any) -> None:
    app, _ = await make_app()
    thread = await app.threads.start()

    for on_busy in ("enqueue", "steer"):
        with pytest.raises(tl.InvalidInputError, match="cannot be queued or steered"):
            await thread.run("go", history=HISTORY, on_busy=on_busy)  # type: ignore[arg-type]
        with pytest.raises(tl.InvalidInputError, match="cannot be queued or steered"):
            await thread.run(None, on_busy=on_busy)  # type: ignore[arg-type]
    assert await thread.items() == []


def _read(request: tl.ModelRequest) -> list[Any]:
    """What the model reads of a request's items (system events other than a summary or a
    repair request are not shown to it)."""
    return [i.payload for i in request.items if not isinstance(i.payload, SystemEvent)]


def _lookup() -> tl.Tool:
    @tl.tool
    async def lookup(city: str) -> str:
        """The weather in a city."""
        return "sun"

    return lookup
