"""An agent whose idempotent tool invokes a non-idempotent one, run in subprocesses by the
crash tests of nested tool calls.

    python nested_app.py STORE DIR run FAULT      start a thread and run one turn
    python nested_app.py STORE DIR recover        recover until every turn has ended

The nested tool appends a line to DIR/lines.txt (the external effect that must happen once);
with NESTED_CHILD_SECONDS set it then writes DIR/child_ran and sleeps that long, so that a
test can kill the process while it runs. The outer tool notes each of its runs in
DIR/parent_runs.txt.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from app_process import script_main

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
from threadline.testing import FaultPoints
from threadline.types import ToolResult

LEASE_SECONDS = 1.0


def append(path: Path, line: str) -> None:
    with path.open("a") as lines:
        lines.write(line + "\n")


def make_tools(folder: str) -> list[tl.Tool]:
    @tl.tool
    async def append_line(text: str, thread: tl.ThreadState[Any]) -> str:
        """Append a line to the ledger file (not idempotent)."""
        append(Path(folder, "lines.txt"), f"{text} {thread.idempotency_key}")
        seconds = float(os.environ.get("NESTED_CHILD_SECONDS", "0"))
        if seconds:
            append(Path(folder, "child_ran"), str(os.getpid()))
            await asyncio.sleep(seconds)
        return f"appended {text}"

    @tl.tool(idempotent=True)
    async def record(text: str, thread: tl.ThreadState[Any]) -> str:
        """Record a line through append_line (idempotent: it runs again after a crash)."""
        append(Path(folder, "parent_runs.txt"), thread.idempotency_key)
        try:
            output = await thread.invoke_tool("append_line", {"text": text})
        except tl.ToolError as exc:
            return f"record failed: {exc.message}"
        return f"recorded ({output})"

    return [append_line, record]


class NestedModel:
    """Calls `record` for the user's message, then reports the tool's result."""

    name = "nested"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1].payload
        if isinstance(last, ToolResult):
            yield ModelResponse(text=f"Done: {last.output}")
            return
        call = ToolCallRequest(
            tool_call_id="call_record", name="record", arguments='{"text": "hello"}'
        )
        yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")


def make_app(store: str, folder: str, faults: FaultPoints | None = None) -> tl.Threadline:
    agent = tl.Agent(name="nested", tools=make_tools(folder), model=NestedModel())
    return tl.Threadline(
        agents=[agent], store=store, faults=faults, lease_seconds=LEASE_SECONDS, shutdown_grace=0
    )


if __name__ == "__main__":
    script_main(make_app, "record hello")
