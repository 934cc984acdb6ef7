"""Agents and a model for worker processes started by the tests:
`threadline --app tests.workers.worker_app:agents --model py:tests.workers.worker_app:model`.
Each tool run is appended to the file named by WORKER_LEDGER (with the process id)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, TextDelta, ToolCallRequest
from threadline.types import ModelError, ToolResult, UserMessage


def _record(key: str) -> bool:
    """Note a run in the ledger; True if this key ran before."""
    ledger = Path(os.environ["WORKER_LEDGER"])
    repeat = ledger.exists() and key in ledger.read_text()
    with ledger.open("a") as out:
        out.write(f"{os.getpid()} {key}\n")
    return repeat


@tl.tool(idempotent=True)
async def work(seconds: float, thread: tl.ThreadState[object]) -> str:
    """Do some work (safe to repeat; a repeat finds it done and returns at once)."""
    if not await asyncio.to_thread(_record, thread.idempotency_key):
        await asyncio.sleep(seconds)
    return f"worked {seconds}s"


@tl.tool(needs_approval=True)
async def pay(to: str) -> str:
    """Pay someone (a human approves it first)."""
    return f"paid {to}"


agents = [tl.Agent(name="worker-agent", tools=[work, pay])]

if os.environ.get("WORKER_CLOCK_SKEW"):
    # A host whose clock is wrong: threadline must not use this clock for leases.
    _real_time = time.time
    time.time = lambda: _real_time() + float(os.environ["WORKER_CLOCK_SKEW"])


class WorkModel:
    """ "work N" calls the tool for N seconds, then answers; "pay NAME" asks to pay NAME;
    "fail" fails the turn; anything else is echoed."""

    name = "work-model"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1]
        if isinstance(last.payload, UserMessage) and last.text == "fail":
            raise ModelError("the model refused", retryable=False)
        if isinstance(last.payload, UserMessage) and last.text.startswith("pay "):
            yield ModelResponse(
                tool_calls=(
                    ToolCallRequest(
                        tool_call_id=f"call_{len(request.items)}",
                        name="pay",
                        arguments=f'{{"to": "{last.text.split()[1]}"}}',
                    ),
                )
            )
            return
        if isinstance(last.payload, UserMessage) and last.text.startswith("work "):
            seconds = float(last.text.split()[1])
            yield ModelResponse(
                tool_calls=(
                    ToolCallRequest(
                        tool_call_id=f"call_{len(request.items)}",
                        name="work",
                        arguments=f'{{"seconds": {seconds}}}',
                    ),
                )
            )
            return
        text = (
            f"done: {last.payload.output}"
            if isinstance(last.payload, ToolResult)
            else f"echo {last.text}"
        )
        yield TextDelta(delta=text)
        yield ModelResponse(text=text)


def model() -> WorkModel:
    return WorkModel()
