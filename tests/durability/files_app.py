"""An agent whose tools change the thread's files, run in subprocesses by the crash tests.

    python files_app.py STORE DIR run FAULT SCENARIO   start a thread, add files, run a turn
    python files_app.py STORE DIR recover              recover until every turn has ended

SCENARIO "once" calls a tool that is not idempotent, "again" an idempotent one; each writes a
file, appends to one and deletes one. With FILES_TOOL_SECONDS set, the tool then waits that
long (the test SIGKILLs the process meanwhile); it writes DIR/in_tool once its changes are made.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from app_process import recover_until_settled

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, TextDelta, ToolCallRequest
from threadline.testing import FaultPoints
from threadline.types import ToolResult, UserMessage

LEASE_SECONDS = 1.0


def make_tools(folder: str) -> list[tl.Tool]:
    async def scribble(thread: tl.ThreadState[dict[str, object]]) -> str:
        await thread.write_file("draft/a.txt", "drafted")
        await thread.append_file("log.txt", "tool\n")
        await thread.delete_file("keep.txt")
        await asyncio.to_thread(Path(folder, "in_tool").write_text, str(os.getpid()))
        await asyncio.sleep(float(os.environ.get("FILES_TOOL_SECONDS", "0")))
        return "scribbled"

    @tl.tool
    async def once(thread: tl.ThreadState[dict[str, object]]) -> str:
        """Change the files (not idempotent)."""
        return await scribble(thread)

    @tl.tool(idempotent=True)
    async def again(thread: tl.ThreadState[dict[str, object]]) -> str:
        """Change the files (idempotent)."""
        return await scribble(thread)

    return [once, again]


class FilesModel:
    """A user message asks for its tool; a tool result is answered with its outcome."""

    name = "files"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1].payload
        if isinstance(last, UserMessage):
            call = ToolCallRequest(
                tool_call_id=f"call_{len(request.items)}",
                name=request.items[-1].text,
                arguments="{}",
            )
            yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")
            return
        assert isinstance(last, ToolResult)
        answer = f"Done: {last.outcome}"
        yield TextDelta(delta=answer)
        yield ModelResponse(text=answer)


def make_app(store: str, folder: str, faults: FaultPoints | None = None) -> tl.Threadline:
    agent = tl.Agent(name="files", tools=make_tools(folder), model=FilesModel())
    return tl.Threadline(
        agents=[agent], store=store, faults=faults, lease_seconds=LEASE_SECONDS, shutdown_grace=0
    )


async def run(store: str, folder: str, fault: str, scenario: str) -> None:
    async with make_app(store, folder, FaultPoints.from_spec(fault)) as app:
        thread = await app.threads.start(key="the-thread")
        await thread.write_file("log.txt", "start\n")
        await thread.write_file("keep.txt", "kept")
        result = await thread.run(scenario)
        print(result.status, flush=True)


async def recover(store: str, folder: str) -> None:
    async with make_app(store, folder) as app:
        await recover_until_settled(app)


if __name__ == "__main__":
    store_spec, work_dir, mode, *rest = sys.argv[1:]
    if mode == "run":
        asyncio.run(run(store_spec, work_dir, rest[0], rest[1]))
    elif mode == "recover":
        asyncio.run(recover(store_spec, work_dir))
    else:
        raise SystemExit(f"unknown mode {mode}")
