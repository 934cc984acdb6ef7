"""A turn whose tool asks a question (`await_choice`), over MCP: the call says what it waits
for (the prompt and the answer's schema) and what to call; `answer_input` answers it once,
checked against the schema, and continues the turn; a client that can ask its user
(elicitation) gets the question as a form instead, on either protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from apps import CommandModel
from mcp.client import ClientRequestContext
from mcp.client.session import ElicitationFnT
from mcp_harness import OTHER_KEY, mcp_client, mcp_session, structured, text
from pydantic import BaseModel
from responses_harness import API_KEYS, RunningServer, start_server, stop_server

import threadline as tl
from threadline.server.mcp._questions import choice_form


class Seat(BaseModel):
    seat: str
    window: bool = False


@tl.tool
async def pick_seat(thread: tl.ThreadState[Any]) -> str:
    """Ask which seat."""
    choice = await thread.await_choice("Which seat?", Seat)
    return f"booked {choice.seat}{' by the window' if choice.window else ''}"


@tl.tool
async def pick_side(thread: tl.ThreadState[Any]) -> str:
    """Ask which side."""
    side = await thread.await_choice("Which side?", {"type": "string", "enum": ["left", "right"]})
    return f"on the {side}"


@tl.tool
async def pick_route(thread: tl.ThreadState[Any]) -> str:
    """Ask for a route: a list, which no form can ask for."""
    stops = await thread.await_choice(
        "Which stops?", {"type": "array", "items": {"type": "string"}}
    )
    return " then ".join(stops)


@pytest.fixture(scope="module")
def booking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    agent = tl.Agent(name="booking", model=CommandModel(), tools=[pick_seat, pick_side, pick_route])
    running, handle = start_server(
        Path(tmp_path_factory.mktemp("mcp-choices")) / "threadline.db",
        api_keys=API_KEYS,
        app_agents=[agent],
    )
    yield running
    stop_server(handle)


def filling_in(
    *answers: dict[str, Any] | None,
) -> tuple[ElicitationFnT, list[types.ElicitRequestParams]]:
    """An elicitation callback that accepts with each of `answers` in turn (None: cancels);
    and what it was asked."""
    asked: list[types.ElicitRequestParams] = []
    queue = list(answers)

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        asked.append(params)
        content = queue.pop(0)
        if content is None:
            return types.ElicitResult(action="cancel")
        return types.ElicitResult(action="accept", content=content)

    return elicit, asked


async def test_a_paused_turn_says_what_it_asks_and_answer_input_answers_it_once(
    booking_server: RunningServer,
) -> None:
    async with mcp_session(booking_server) as session:
        paused = await session.call_tool("booking", {"input": "client pick_seat {}"})
        waiting = structured(paused)
        thread_id = waiting["thread_id"]
        wrong = await session.call_tool("answer_input", {"thread_id": thread_id, "answer": {}})
        read = structured(await session.call_tool("read_thread", {"thread_id": thread_id}))
        done = await session.call_tool(
            "answer_input", {"thread_id": thread_id, "answer": {"seat": "12A", "window": True}}
        )
        again = await session.call_tool(
            "answer_input", {"thread_id": thread_id, "answer": {"seat": "3C"}}
        )
        missing = await session.call_tool("answer_input", {"thread_id": thread_id})

    assert waiting["status"] == "paused"
    assert waiting["pending_input"]["prompt"] == "Which seat?"
    assert waiting["pending_input"]["thread_id"] == thread_id
    assert waiting["pending_input"]["schema"]["required"] == ["seat"]
    assert "answer_input" in text(paused) and "Which seat?" in text(paused)
    assert wrong.is_error
    assert "does not match the choice's schema" in text(wrong)
    assert read["pending_input"]["prompt"] == "Which seat?"  # the wrong answer changed nothing
    assert structured(done)["status"] == "completed"
    assert structured(done)["turn_id"] == waiting["turn_id"]
    assert text(done) == "pick_seat returned booked 12A by the window"
    assert again.is_error
    assert "no choice waits for an answer" in text(again)
    assert missing.is_error
    assert "'answer' is required" in text(missing)


async def test_another_keys_thread_is_answered_as_an_unknown_one(
    booking_server: RunningServer,
) -> None:
    async with mcp_session(booking_server) as session:
        thread_id = structured(
            await session.call_tool("booking", {"input": "client pick_side {}"})
        )["thread_id"]
    async with mcp_session(booking_server, key=OTHER_KEY) as other:
        foreign = await other.call_tool("answer_input", {"thread_id": thread_id, "answer": "left"})
        unknown = await other.call_tool("answer_input", {"thread_id": "thr_nope", "answer": "left"})
    async with mcp_session(booking_server) as session:
        done = await session.call_tool("answer_input", {"thread_id": thread_id, "answer": "left"})

    assert foreign.is_error and unknown.is_error
    assert text(foreign) == text(unknown).replace("thr_nope", thread_id)
    assert text(done) == "pick_side returned on the left"  # the other key's call changed nothing


async def test_a_client_that_elicits_fills_in_the_choice_as_a_form(
    booking_server: RunningServer,
) -> None:
    elicit, asked = filling_in({"seat": "7B"}, {"answer": "right"})
    async with mcp_session(booking_server, elicitation=elicit) as session:
        seat = await session.call_tool("booking", {"input": "client pick_seat {}"})
        side = await session.call_tool("booking", {"input": "client pick_side {}"})

    assert text(seat) == "pick_seat returned booked 7B"
    assert text(side) == "pick_side returned on the right"
    assert [a.message for a in asked] == ["Which seat?", "Which side?"]
    seat_form, side_form = (a.requested_schema for a in asked)  # type: ignore[union-attr]
    assert seat_form["properties"]["seat"] == {"title": "Seat", "type": "string"}
    assert seat_form["required"] == ["seat"]
    assert side_form == {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["left", "right"]}},
        "required": ["answer"],
    }


async def test_a_cancelled_form_or_an_unaskable_choice_leaves_the_turn_paused(
    booking_server: RunningServer,
) -> None:
    elicit, asked = filling_in(None)
    async with mcp_session(booking_server, elicitation=elicit) as session:
        cancelled = structured(await session.call_tool("booking", {"input": "client pick_side {}"}))
        route = structured(await session.call_tool("booking", {"input": "client pick_route {}"}))
        done = await session.call_tool(
            "answer_input", {"thread_id": route["thread_id"], "answer": ["Lyon", "Nice"]}
        )

    assert len(asked) == 1  # the route's list is not asked as a form
    assert cancelled["status"] == route["status"] == "paused"
    assert cancelled["pending_input"]["prompt"] == "Which side?"
    assert text(done) == "pick_route returned Lyon then Nice"


async def test_the_2026_protocol_client_answers_through_its_retry(
    booking_server: RunningServer,
) -> None:
    elicit, asked = filling_in({"seat": "1A", "window": True})
    async with mcp_client(booking_server, elicitation=elicit) as client:
        seat = await client.call_tool("booking", {"input": "client pick_seat {}"})

    assert [a.message for a in asked] == ["Which seat?"]
    assert text(seat) == "pick_seat returned booked 1A by the window"


def test_only_flat_schemas_become_forms() -> None:
    assert choice_form({"type": "integer", "minimum": 1, "maximum": 9, "x-note": "dropped"}) == {
        "type": "object",
        "properties": {"answer": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["answer"],
    }
    assert choice_form({"enum": ["a", "b"]}) == {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": ["a", "b"]}},
        "required": ["answer"],
    }
    nested = {"type": "object", "properties": {"where": {"type": "object", "properties": {}}}}
    assert choice_form(nested) is None
    assert choice_form({"type": "object", "properties": {}}) is None
    assert choice_form({"type": "array", "items": {"type": "string"}}) is None
    assert choice_form({"anyOf": [{"type": "string"}, {"type": "null"}]}) is None
