"""`queue_message` survives SIGKILL: a tool queues messages and its process dies; a fresh
process recovers; each message reaches the turn exactly once, in order (both stores)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bank_harness import SRC, Bank

from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.types import ToolResult, UserMessage

pytestmark = pytest.mark.slow

QUEUE_APP = Path(__file__).with_name("queue_app.py")


@dataclass
class QueueApp(Bank):
    """Runs queue_app.py in fresh processes against one database."""

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(QUEUE_APP), self.store, str(self.folder), *args],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture(params=BACKENDS)
async def app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[QueueApp]:
    if request.param == "sqlite":
        yield QueueApp(str(tmp_path / "queue.db"), tmp_path)
        return
    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield QueueApp(f"{url}?schema={schema}", tmp_path)
    await drop_schema(url, schema)


@pytest.mark.parametrize(("tool", "outcome"), [("plan", "success"), ("plan_once", "unknown")])
async def test_messages_queued_by_a_killed_tool_are_delivered_once_in_order(
    app: QueueApp, tool: str, outcome: str
) -> None:
    app.killed("run", tool)  # dies after queueing m1 and m2
    app.recovered()

    turns, items = await app.state()
    assert [t.status for t in turns] == ["completed"]
    (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
    assert result.outcome == outcome
    queued = [(i.text, i.payload.sender) for i in items if isinstance(i.payload, UserMessage)]
    if tool == "plan":  # run again: m1 and m2 are not queued twice, m3 follows them
        assert queued == [(f"go {tool}", None), ("m1", None), ("m2", "planner"), ("m3", None)]
        assert items[-1].text == "got: m1, m2, m3"
    else:  # not run again: what it queued before it died still arrives, once
        assert queued == [(f"go {tool}", None), ("m1", None), ("m2", "planner")]
        assert items[-1].text == "got: m1, m2"
    assert [i.type for i in items][-1] == "agent_message"


async def test_messages_a_killed_tool_injected_and_edited_are_stored_once(
    app: QueueApp,
) -> None:
    app.killed("run", "note")  # dies after injecting n1 and editing the user's message
    app.recovered()

    turns, items = await app.state()
    assert [t.status for t in turns] == ["completed"]
    assert [(i.type, i.text) for i in items if i.type != "system_event"] == [
        ("user_message", "go note"),  # as stored: the edit is a marker of its own
        ("tool_call", ""),
        ("user_message", "n1"),
        ("user_message", "n2"),
        ("tool_result", ""),
        ("agent_message", "got: n1, n2"),
    ]
    edits = [i for i in items if i.type == "system_event"]
    assert len(edits) == 1 and edits[0].payload.data["content"]["content"] == [  # type: ignore[union-attr]
        {"type": "text", "text": "go note (edited)"}
    ]


async def test_a_message_queued_on_an_idle_thread_survives_the_process(app: QueueApp) -> None:
    app.killed("idle")
    app.recovered()

    turns, items = await app.state()
    assert [(t.input, t.status, t.client_key) for t in turns] == [
        ([{"type": "text", "text": "hello"}], "completed", "first")
    ]
    assert [i.text for i in items] == ["hello", "got: hello"]
