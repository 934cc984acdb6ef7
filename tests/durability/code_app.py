"""An agent whose idempotent tool runs code (`run_code`) that notes a line through a host
function, run in subprocesses by the crash tests of code steps.

    python code_app.py STORE DIR run FAULT      start a thread and run one turn
    python code_app.py STORE DIR recover        recover until every turn has ended

The host function `note` appends to DIR/notes.txt (the effect that must happen once); with
CODE_SECONDS set the code then waits that long in the host function `pause`, after writing
DIR/code_ran, so that a test can kill the process while the code runs. The tool notes each
of its runs in DIR/tool_runs.txt.
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

SOURCE = "note('hello')\nawait pause()\n'noted'"


def append(path: Path, line: str) -> None:
    with path.open("a") as lines:
        lines.write(line + "\n")


def make_tools(folder: str) -> list[tl.Tool]:
    def note(text: str) -> None:
        append(Path(folder, "notes.txt"), text)

    async def pause() -> None:
        seconds = float(os.environ.get("CODE_SECONDS", "0"))
        if seconds:
            append(Path(folder, "code_ran"), str(os.getpid()))
            await asyncio.sleep(seconds)

    @tl.tool(idempotent=True)
    async def compute(thread: tl.ThreadState[Any]) -> str:
        """Run the code (idempotent: it runs again after a crash)."""
        append(Path(folder, "tool_runs.txt"), thread.idempotency_key)
        result = await thread.run_code(SOURCE, imports={"note": note, "pause": pause})
        return f"{result.status}: {result.value if result.status == 'ok' else result.error}"

    return [compute]


class CodeModel:
    name = "code"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1].payload
        if isinstance(last, ToolResult):
            yield ModelResponse(text=f"Done: {last.output}")
            return
        call = ToolCallRequest(tool_call_id="call_compute", name="compute", arguments="{}")
        yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")


def make_app(store: str, folder: str, faults: FaultPoints | None = None) -> tl.Threadline:
    agent = tl.Agent(name="coder", tools=make_tools(folder), model=CodeModel())
    return tl.Threadline(
        agents=[agent], store=store, faults=faults, lease_seconds=1.0, shutdown_grace=0
    )


if __name__ == "__main__":
    script_main(make_app, "compute")
