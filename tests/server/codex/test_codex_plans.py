"""Plans over the Codex app-server protocol: each `update_plan` call is a `turn/plan/updated`
notification, in the protocol's shape, read by the official SDK and by a raw peer on both
stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from codex_apps import agents, model
from codex_harness import Schema, WebSocketPeer, WebSocketServer, server_command, server_env
from openai_codex import Codex, CodexConfig
from openai_codex.generated.v2_all import (
    TurnCompletedNotification,
    TurnPlanStepStatus,
    TurnPlanUpdatedNotification,
)
from test_official_sdk import pipes_closed


@pytest.fixture
def codex(db_path: Path, tmp_path: Path) -> Iterator[Codex]:
    config = CodexConfig(
        launch_args_override=tuple(server_command(db_path)), cwd=str(tmp_path), env=server_env()
    )
    codex = Codex(config)
    with pipes_closed(codex._client), codex:  # pyright: ignore[reportPrivateUsage]
        yield codex


def test_the_sdk_reads_each_plan_update(codex: Codex) -> None:
    thread = codex.thread_start()
    turn = thread.turn("plan Read the logs, Fix the parser")
    notifications = list(turn.stream())

    updates = [
        n.payload for n in notifications if isinstance(n.payload, TurnPlanUpdatedNotification)
    ]
    (update,) = updates
    assert update.thread_id == thread.id
    assert update.turn_id == turn.id
    assert update.explanation == "one at a time"
    assert [(s.step, s.status) for s in update.plan] == [
        ("Read the logs", TurnPlanStepStatus.in_progress),
        ("Fix the parser", TurnPlanStepStatus.pending),
    ]
    payloads = [n.payload for n in notifications]
    completed = [p for p in payloads if isinstance(p, TurnCompletedNotification)]
    assert payloads.index(update) < payloads.index(completed[0])


async def test_plan_updates_match_the_protocol_schema_on_both_stores(
    make_store: Any, schema: Schema
) -> None:
    server = WebSocketServer(make_store, agents(), model())
    await server.start()
    try:
        peer = await WebSocketPeer.connect(server.url)
        await peer.initialize()
        thread_id = (await peer.request("thread/start", {}))["result"]["thread"]["id"]
        turn = await peer.request(
            "turn/start",
            {"threadId": thread_id, "input": [{"type": "text", "text": "plan Draft, Review"}]},
        )
        turn_id = turn["result"]["turn"]["id"]

        update = await peer.until("turn/plan/updated")
        await peer.until("turn/completed")
        schema.check_message(update)
        assert update["params"] == {
            "threadId": thread_id,
            "turnId": turn_id,
            "explanation": "one at a time",
            "plan": [
                {"step": "Draft", "status": "inProgress"},
                {"step": "Review", "status": "pending"},
            ],
        }
        read = await peer.request("thread/read", {"threadId": thread_id, "includeTurns": True})
        items = read["result"]["thread"]["turns"][0]["items"]
        assert [(i["type"], i.get("tool")) for i in items] == [
            ("userMessage", None),
            ("mcpToolCall", "update_plan"),
            ("agentMessage", None),
        ]
        await peer.close()
    finally:
        await server.stop()
