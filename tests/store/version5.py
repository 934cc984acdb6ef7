"""A thread as a version-5 store held it: recorded from a real run, then written in the
version-5 shape (rows keyed by the thread's id, events one per row, ids as text), for the
tests that migrate such a database."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

import threadline as tl
from threadline.store import Store
from threadline.testing import ScriptedModel, ScriptedToolCall, Step, fail
from threadline.types import (
    AgentMessage,
    Event,
    Item,
    ModelError,
    TextPart,
    ThreadRecord,
    TurnRecord,
    UserMessage,
    payload_call_id,
    payload_to_dict,
)

THREAD_COLUMNS = (
    "thread_id, key, user_id, resource_id, agent, mode, status, parent_id, state, metadata, "
    "created_at, updated_at, active_turn_id, last_item_seq, last_event_seq, turn_count, "
    "lease_owner, lease_epoch, lease_expires_at, wake_at"
)
COLUMNS = {
    "threads": THREAD_COLUMNS,
    "turns": "turn_id, thread_id, number, status, input, sender, client_key, usage, steps, "
    "error, created_at, updated_at, completed_at, cancel_requested, options, running_seconds",
    "items": "thread_id, seq, item_id, turn_id, type, status, call_id, content, created_at",
    "events": "thread_id, seq, turn_id, item_id, type, params, created_at",
    "tool_calls": "thread_id, tool_call_id, turn_id, state, epoch, updated_at",
}


@dataclass
class Recorded:
    """What the store returned for a thread, to compare a migrated store with."""

    thread: ThreadRecord
    turns: list[TurnRecord]
    items: list[Item]
    events: list[Event]
    tool_states: dict[str, dict[str, Any]]  # turn id -> call id -> state


async def record(db_path: Path) -> list[Recorded]:
    """Run two threads through appended items, imported history, tool calls, an approval and
    a stream cut off mid-item, and read back everything that they stored."""

    @tl.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return {"city": city, "temp_c": 18}

    script: list[Any] = [
        Step(
            reasoning="The user wants the weather.",
            text="Let me look.",
            tool_calls=[ScriptedToolCall(name="get_weather", arguments='{"city": "Oslo"}')],
        ),
        Step(text="It is 18 °C in Oslo.", deltas=["It is ", "18 °C", " in ", "Oslo."]),
        Step(tool_calls=[ScriptedToolCall(name="get_weather", arguments='{"city": "Rome"}')]),
        "Rome is warm.",
        fail(ModelError("the connection dropped"), after_text="Half an answer"),
    ]
    model = ScriptedModel(script * 2)
    agent = tl.Agent(name="a", tools=[get_weather])
    async with tl.Threadline(agents=[agent], store=db_path, model=model) as app:
        return [await _run(app, user_id) for user_id in ("ann", "bob")]


async def _run(app: tl.Threadline, user_id: str) -> Recorded:
    thread = await app.threads.start(user_id=user_id, metadata={"topic": "weather"})
    await thread.append([AgentMessage(text="Welcome back.")])
    await thread.run(
        "Weather in Oslo?",
        history=[UserMessage(content=(TextPart(text="Hi"),)), AgentMessage(text="Hello")],
    )
    paused = await thread.run("And Rome?", require_approval=["get_weather"])
    await thread.approve(paused.pending_approvals[0].tool_call_id)
    await thread.resume_turn()
    with pytest.raises(tl.TurnFailedError):  # a stream cut off mid-item
        await thread.run("And Paris?")
    store: Store = app.store
    turns = await store.list_turns(thread.id)
    found = await store.get_thread(thread.id)
    assert found is not None
    return Recorded(
        thread=found,
        turns=turns,
        items=await store.load_items(thread.id),
        events=await store.load_events(thread.id),
        tool_states={
            t.turn_id: dict(await store.load_tool_states(thread.id, t.turn_id)) for t in turns
        },
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def rows(recorded: Recorded) -> dict[str, list[tuple[Any, ...]]]:
    """The recorded thread as version-5 rows, by table (columns as in `COLUMNS`)."""
    t = recorded.thread
    thread = (
        t.thread_id,
        t.key,
        t.user_id,
        t.resource_id,
        t.agent,
        t.mode,
        t.status,
        t.parent_id,
        None if t.state is None else _dumps(t.state),
        _dumps(t.metadata),
        t.created_at,
        t.updated_at,
        t.active_turn_id,
        t.last_item_seq,
        t.last_event_seq,
        t.turn_count,
        t.lease_owner,
        t.lease_epoch,
        t.lease_expires_at,
        t.wake_at,
    )
    turns = [
        (
            u.turn_id,
            u.thread_id,
            u.number,
            u.status,
            _dumps(u.input),
            u.sender,
            u.client_key,
            _dumps(u.usage.to_dict()),
            u.steps,
            None if u.error is None else _dumps(u.error),
            u.created_at,
            u.updated_at,
            u.completed_at,
            int(u.cancel_requested),
            _dumps(u.options),
            u.running_seconds,
        )
        for u in recorded.turns
    ]
    items = [
        (
            i.thread_id,
            i.seq,
            i.item_id,
            i.turn_id,
            i.type,
            i.status,
            payload_call_id(i.payload),
            _dumps(payload_to_dict(i.payload)),
            i.created_at,
        )
        for i in recorded.items
    ]
    events = [
        (
            e.thread_id,
            e.seq,
            e.turn_id,
            e.item_id,
            e.type,
            # Version 5 kept an item_completed event as a reference to its item.
            '{"$item":1}' if e.type == "item_completed" else _dumps(dict(e.params)),
            time.time(),
        )
        for e in recorded.events
    ]
    calls = [
        (t.thread_id, call_id, turn_id, state, 1, time.time())
        for turn_id, states in recorded.tool_states.items()
        for call_id, state in states.items()
    ]
    return {
        "threads": [thread],
        "turns": turns,
        "items": items,
        "events": events,
        "tool_calls": calls,
    }


async def assert_reads_back(store: Store, recorded: Recorded) -> None:
    """`store` returns for the thread what was recorded: its record, turns, items, call
    states, and its log replayed from every seq."""
    thread_id = recorded.thread.thread_id
    assert await store.get_thread(thread_id) == recorded.thread
    assert await store.list_turns(thread_id) == recorded.turns
    for turn in recorded.turns:
        assert await store.get_turn(turn.turn_id) == turn
        assert (
            await store.load_tool_states(thread_id, turn.turn_id)
            == (recorded.tool_states[turn.turn_id])
        )
    assert await store.load_items(thread_id) == recorded.items
    expected = [orjson.dumps(e.to_dict()) for e in recorded.events]
    for after in range(len(expected) + 1):
        replayed = await store.load_events(thread_id, after_seq=after)
        assert [orjson.dumps(e.to_dict()) for e in replayed] == expected[after:], after
    assert await store.check_integrity() == []
