"""Subagents over the Codex app-server protocol: a child thread's start and end are
`collabAgentToolCall` items (`spawnAgent`) in the parent's stream, read by the official SDK;
what the child does in between is a `threadline/subagent/progress` notification."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from codex_apps import lead_agents, model
from codex_harness import Schema, WebSocketPeer, WebSocketServer, server_command, server_env
from openai_codex import Codex, CodexConfig
from openai_codex.generated.v2_all import (
    CollabAgentStatus,
    CollabAgentTool,
    CollabAgentToolCallStatus,
    CollabAgentToolCallThreadItem,
    ItemCompletedNotification,
    ItemStartedNotification,
    TurnCompletedNotification,
    TurnStatus,
)
from test_official_sdk import pipes_closed

import threadline as tl
from threadline.testing import eventually


@pytest.fixture
def codex(db_path: Path, tmp_path: Path) -> Iterator[Codex]:
    config = CodexConfig(
        launch_args_override=tuple(server_command(db_path, "codex_apps:lead_agents")),
        cwd=str(tmp_path),
        env=server_env(),
    )
    codex = Codex(config)
    with pipes_closed(codex._client), codex:  # pyright: ignore[reportPrivateUsage]
        yield codex


def _collab(payload: object) -> CollabAgentToolCallThreadItem | None:
    if isinstance(payload, ItemStartedNotification | ItemCompletedNotification):
        item = payload.item.root
        if isinstance(item, CollabAgentToolCallThreadItem):
            return item
    return None


async def test_the_sdk_sees_a_child_thread_as_a_spawn_agent_collab_call(
    codex: Codex, db_path: Path
) -> None:
    thread = codex.thread_start(model="lead")
    turn = thread.turn("delegate Find the tides")
    payloads = [n.payload for n in turn.stream()]

    store = tl.SQLiteStore(db_path)
    await store.open()
    try:
        (child,) = await store.list_children(thread.id)
    finally:
        await store.close()
    started = [p for p in payloads if isinstance(p, ItemStartedNotification) and _collab(p)]
    completed = [p for p in payloads if isinstance(p, ItemCompletedNotification) and _collab(p)]
    assert len(started) == 1 and len(completed) == 1
    begin, end = _collab(started[0]), _collab(completed[0])
    assert begin is not None and end is not None
    assert begin.id == end.id
    assert begin.tool == end.tool == CollabAgentTool.spawn_agent
    assert begin.sender_thread_id == thread.id
    assert begin.receiver_thread_ids == end.receiver_thread_ids == [child.thread_id]
    assert begin.status == CollabAgentToolCallStatus.in_progress
    assert begin.agents_states[child.thread_id].status == CollabAgentStatus.running
    assert end.status == CollabAgentToolCallStatus.completed
    state = end.agents_states[child.thread_id]
    assert (state.status, state.message) == (
        CollabAgentStatus.completed,
        "You said: Find the tides",
    )
    (done,) = [p for p in payloads if isinstance(p, TurnCompletedNotification)]
    assert done.turn.status == TurnStatus.completed
    assert payloads.index(completed[0]) < payloads.index(done)


async def test_a_paused_child_reaches_the_parent_in_the_protocol_shapes(
    make_store: Any, schema: Schema
) -> None:
    server = WebSocketServer(make_store, lead_agents(), model())
    await server.start()
    try:
        peer = await WebSocketPeer.connect(server.url)
        await peer.initialize()
        started = await peer.request("thread/start", {"model": "lead"})
        thread_id = started["result"]["thread"]["id"]
        await peer.request(
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": "delegate pay 5 to Ann"}]},
        )

        spawn = await peer.until("item/started")
        while spawn["params"]["item"]["type"] != "collabAgentToolCall":
            spawn = await peer.until("item/started")
        schema.check_message(spawn)
        item = spawn["params"]["item"]
        (child_id,) = item["receiverThreadIds"]
        assert (item["type"], item["tool"], item["senderThreadId"]) == (
            "collabAgentToolCall",
            "spawnAgent",
            thread_id,
        )
        waiting = await peer.until("threadline/subagent/progress", phase="waiting")
        params = waiting["params"]
        assert (params["threadId"], params["thread_id"], params["agent"]) == (
            thread_id,
            child_id,
            "researcher",
        )
        assert [(p["type"], p["name"]) for p in params["pending"]] == [
            ("approval_request", "transfer")
        ]

        async def stored_wait() -> list[dict[str, Any]]:
            # The progress event is live; the parent's pause is stored a moment later.
            read = await peer.request("thread/read", {"threadId": thread_id, "includeTurns": True})
            schema.check("ThreadReadResponse", read["result"])
            items = read["result"]["thread"]["turns"][0]["items"]
            return [i for i in items if i["type"] == "collabAgentToolCall" and i["tool"] == "wait"]

        collab = await eventually(stored_wait)
        assert [(c["tool"], c["status"], c["agentsStates"]) for c in collab] == [
            ("wait", "inProgress", {child_id: {"status": "running", "message": None}})
        ]
        await peer.close()
    finally:
        await server.stop()


def test_the_sdk_answers_a_childs_approval_in_the_parents_turn(
    db_path: Path, tmp_path: Path
) -> None:
    from openai_codex.client import CodexClient

    config = CodexConfig(
        launch_args_override=tuple(server_command(db_path, "codex_apps:lead_agents")),
        cwd=str(tmp_path),
        env=server_env(),
    )
    asked: list[dict[str, Any] | None] = []

    def handler(method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        asked.append(params)
        return {"action": "accept", "content": {}}

    client = CodexClient(config, approval_handler=handler)  # type: ignore[arg-type]
    client.start()
    with pipes_closed(client), client:
        client.initialize()
        thread_id = client.thread_start({}).thread.id
        turn_id = client.turn_start(thread_id, "delegate pay 5 to Ann").turn.id
        completed = client.wait_for_turn_completed(turn_id)
        read = client.thread_read(thread_id, include_turns=True).thread

    assert completed.turn.status == TurnStatus.completed
    (params,) = asked  # the child's call, asked in the parent's turn
    assert params is not None
    assert params["_meta"]["tool_params"] == {"to": "Ann", "amount": 5}
    messages = [i.root.text for t in read.turns for i in t.items if i.root.type == "agentMessage"]  # type: ignore[union-attr]
    assert messages == ["researcher said: transfer said: sent 5 to Ann"]
