"""An agent whose tool queues messages, run in subprocesses by the crash tests.

    python queue_app.py STORE DIR run TOOL     start a thread and run one turn whose tool
                                               (`plan`: idempotent; `plan_once`: not) queues
                                               three messages and dies after the second, once
                                               (`note` injects and edits messages instead)
    python queue_app.py STORE DIR idle         queue a message on an idle thread; die before
                                               the model is called
    python queue_app.py STORE DIR recover      recover until every turn ended

STORE is a SQLite path or a PostgreSQL URL. DIR holds the marker that says the process died
once already.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from app_process import recover_until_settled

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
from threadline.testing import FaultPoints
from threadline.types import ToolResult, UserMessage

LEASE_SECONDS = 1.0


def die_the_first_time(folder: str) -> None:
    marker = Path(folder, "died")
    if not marker.exists():
        marker.write_text("once")
        os.kill(os.getpid(), signal.SIGKILL)


def make_tools(folder: str) -> list[tl.Tool]:
    async def queue_three(thread: tl.ThreadState[dict[str, object]]) -> str:
        await thread.queue_message("m1")
        await thread.queue_message("m2", sender="planner")
        die_the_first_time(folder)
        await thread.queue_message("m3")
        return "planned"

    @tl.tool(idempotent=True)
    async def note(thread: tl.ThreadState[dict[str, object]]) -> str:
        """Inject and edit messages (idempotent), dying once after the first ones."""
        await thread.inject_message("n1")
        first = thread.get_messages()[0]
        await thread.update_message(first.item_id, "go note (edited)")
        die_the_first_time(folder)
        await thread.inject_message("n2")
        return "noted"

    @tl.tool(idempotent=True)
    async def plan(thread: tl.ThreadState[dict[str, object]]) -> str:
        """Plan (idempotent: run again after a crash)."""
        return await queue_three(thread)

    @tl.tool
    async def plan_once(thread: tl.ThreadState[dict[str, object]]) -> str:
        """Plan (not idempotent: never run again)."""
        return await queue_three(thread)

    return [plan, plan_once, note]


class QueueModel:
    """A user message "go TOOL" asks for that tool; otherwise it answers with the user
    messages that followed the last tool result, or else echoes the last one."""

    name = "queue"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        items = list(request.items)
        last = items[-1]
        if isinstance(last.payload, UserMessage) and last.text.startswith("go "):
            call = ToolCallRequest(
                tool_call_id=f"call_{len(items)}", name=last.text[3:].split()[0], arguments="{}"
            )
            yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")
            return
        results = [n for n, i in enumerate(items) if isinstance(i.payload, ToolResult)]
        after = items[results[-1] + 1 :] if results else items[-1:]
        yield ModelResponse(text="got: " + ", ".join(i.text for i in after))


def make_app(store: str, folder: str, faults: FaultPoints | None = None) -> tl.Threadline:
    agent = tl.Agent(name="queue", tools=make_tools(folder), model=QueueModel())
    return tl.Threadline(
        agents=[agent], store=store, faults=faults, lease_seconds=LEASE_SECONDS, shutdown_grace=0
    )


async def run(store: str, folder: str, tool: str) -> None:
    async with make_app(store, folder) as app:
        thread = await app.threads.start(key="the-thread")
        result = await thread.run(f"go {tool}")
        print(result.status, flush=True)


async def idle(store: str, folder: str) -> None:
    async with make_app(store, folder, FaultPoints.from_spec("before_model_call:kill")) as app:
        thread = await app.threads.start(key="the-thread")
        await thread.queue_message("hello", client_key="first")
        await asyncio.sleep(30)  # the turn it starts reaches the fault point and dies


async def recover(store: str, folder: str) -> None:
    async with make_app(store, folder) as app:
        await recover_until_settled(app)


if __name__ == "__main__":
    store_spec, work_dir, mode, *rest = sys.argv[1:]
    if mode == "run":
        asyncio.run(run(store_spec, work_dir, rest[0]))
    elif mode == "idle":
        asyncio.run(idle(store_spec, work_dir))
    elif mode == "recover":
        asyncio.run(recover(store_spec, work_dir))
    else:
        raise SystemExit(f"unknown mode {mode}")
