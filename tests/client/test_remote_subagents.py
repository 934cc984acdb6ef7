"""Subagents over the remote client: the parent's stream and subscriptions carry the
children's progress, a thread's relatives are reachable, and a child's approval is decided
from the parent's handle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from codex_apps import lead_agents, model
from codex_harness import WebSocketServer

import threadline as tl
from threadline.client import RemoteThreadline
from threadline.types import ApprovalRequest


@pytest.fixture
async def server(db_path: Path) -> AsyncIterator[WebSocketServer]:
    running = WebSocketServer(db_path, lead_agents(), model())
    await running.start()
    yield running
    await running.stop()


def _progress(events: list[tl.Event]) -> list[dict[str, Any]]:
    return [dict(e.params) for e in events if e.type == "subagent_progress"]


async def test_the_stream_carries_the_childs_progress_and_the_family_is_reachable(
    remote: RemoteThreadline, local: tl.Threadline
) -> None:
    thread = await remote.threads.start(user_id="ann")
    subscription = thread.subscribe()
    await subscription
    stream = thread.run_streamed("delegate Find the tides")
    events = [event async for event in stream]

    assert stream.result.status == "completed"
    assert stream.result.text == "researcher said: You said: Find the tides"
    progress = _progress(events)
    assert [p["phase"] for p in progress] == [
        "started",
        "item_completed",
        "item_completed",
        "ended",
    ]
    (child,) = await thread.children()
    assert all(p["thread_id"] == child.thread_id for p in progress)
    assert all(p["parent_thread_id"] == thread.id for p in progress)
    assert progress[-1]["text"] == "You said: Find the tides"
    local_children = await (await local.threads.resume(thread.id)).children()
    # A turn's options are the runtime's own (its budget, its trace): not on the wire.
    assert [_as_sent(child)] == [_as_sent(c) for c in local_children]
    assert child.result is not None and child.result.text == "You said: Find the tides"
    assert child.agent == "researcher"

    assert child.reference_id is not None
    handle = await thread.child(child.reference_id)
    assert handle is not None and handle.id == child.thread_id
    parent = await handle.parent()
    assert parent is not None and parent.id == thread.id
    assert await thread.child("nothing") is None
    assert await thread.parent() is None
    assert await handle.children() == []

    seen: list[tl.Event] = []
    async for event in subscription:
        seen.append(event)
        if event.is_terminal:
            break
    subscription.close()
    assert _progress(seen) == progress


async def test_a_childs_approval_is_decided_from_the_parent(remote: RemoteThreadline) -> None:
    thread = await remote.threads.start(user_id="ann")
    stream = thread.run_streamed("delegate pay 5 to Ann")
    events = [event async for event in stream]
    paused = stream.result

    assert paused.status == "paused"
    (child,) = await thread.children()
    (request,) = paused.pending_approvals
    assert (request.name, request.thread_id) == ("transfer", child.thread_id)
    assert await thread.pending() == [request]
    (waiting,) = [p for p in _progress(events) if p["phase"] == "waiting"]
    assert [p["tool_call_id"] for p in waiting["pending"]] == [request.tool_call_id]

    await thread.approve(request.tool_call_id)
    resumed = thread.resume_turn_streamed()
    after = [event async for event in resumed]

    assert resumed.result.status == "completed"
    assert resumed.result.text == "researcher said: transfer said: sent 5 to Ann"
    assert _progress(after)[-1]["phase"] == "ended"
    assert await thread.pending() == []
    (child,) = await thread.children()
    assert child.result is not None and child.result.status == "completed"
    handle = await thread.child(child.reference_id or "")
    assert handle is not None
    requests = [i.payload for i in await handle.items()]
    assert any(isinstance(p, ApprovalRequest) for p in requests)


def _as_sent(child: tl.ChildThread) -> tl.ChildThread:
    if child.result is None:
        return child
    turn = replace(child.result.turn, options={})
    return replace(child, result=replace(child.result, turn=turn))
