"""A lead agent that delegates to a worker agent (a subagent: a child thread), run in
subprocesses by the crash tests of subagents.

    python subagent_app.py STORE DIR run         start a thread and run one turn
    python subagent_app.py STORE DIR recover     recover until every turn has ended

The worker's model notes each request in DIR/worker_requests.txt; with WORKER_SECONDS set
it then sleeps that long before it answers, so that a test can kill the process while the
child thread runs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from app_process import recover_until_settled

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
from threadline.types import ToolResult

LEASE_SECONDS = 1.0


class LeadModel:
    """Delegates the user's message to the worker, then reports what it said."""

    name = "lead"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1].payload
        if isinstance(last, ToolResult):
            yield ModelResponse(text=f"Done: {last.output}")
            return
        call = ToolCallRequest(
            tool_call_id="call_worker", name="worker", arguments='{"input": "dig"}'
        )
        yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")


class WorkerModel:
    name = "worker"

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        with (self.folder / "worker_requests.txt").open("a") as lines:
            lines.write(f"{os.getpid()}\n")
        seconds = float(os.environ.get("WORKER_SECONDS", "0"))
        if seconds:
            await asyncio.sleep(seconds)
        yield ModelResponse(text="found it")


def make_app(store: str, folder: str) -> tl.Threadline:
    worker = tl.Agent(name="worker", model=WorkerModel(folder))
    lead = tl.Agent(name="lead", model=LeadModel(), subagents=[worker])
    return tl.Threadline(agents=[lead], store=store, lease_seconds=LEASE_SECONDS, shutdown_grace=0)


async def run(store: str, folder: str) -> None:
    async with make_app(store, folder) as app:
        thread = await app.threads.start(key="the-thread")
        print((await thread.run("find it")).status, flush=True)


async def recover(store: str, folder: str) -> None:
    async with make_app(store, folder) as app:
        await recover_until_settled(app)


if __name__ == "__main__":
    store_spec, work_dir, mode = sys.argv[1:4]
    if mode == "run":
        asyncio.run(run(store_spec, work_dir))
    elif mode == "recover":
        asyncio.run(recover(store_spec, work_dir))
    else:
        raise SystemExit(f"unknown mode {mode}")
