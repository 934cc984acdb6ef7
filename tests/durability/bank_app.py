"""A small bank agent run in subprocesses by the crash tests.

    python bank_app.py STORE DIR run FAULT SCENARIO   start a thread and run one turn
    python bank_app.py STORE DIR recover              recover until every turn ended or paused
    python bank_app.py STORE DIR approve FAULT        approve what is pending, then resume
    python bank_app.py STORE DIR queue                queue input and a timer behind a slow
                                                      turn, then die

STORE is a SQLite path or a PostgreSQL URL. Every tool invocation is recorded in a ledger in
DIR, the fake external service whose counters the tests compare with each tool's declared
semantics (I9).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, TextDelta, ToolCallRequest
from threadline.testing import FaultPoints
from threadline.types import ToolResult, UserMessage

LEASE_SECONDS = 1.0


def ledger(folder: str) -> sqlite3.Connection:
    conn = sqlite3.connect(os.path.join(folder, "ledger.db"), isolation_level=None)
    conn.execute("CREATE TABLE IF NOT EXISTS ledger (tool TEXT, key TEXT, marker TEXT)")
    return conn


def make_tools(folder: str) -> list[tl.Tool]:
    def record(tool: str, key: str) -> None:
        ledger(folder).execute("INSERT INTO ledger VALUES (?, ?, ?)", (tool, key, None))

    @tl.tool
    async def transfer(to: str, amount: int, thread: tl.ThreadState[dict[str, object]]) -> str:
        """Send money (not idempotent)."""
        marker = Path(folder, "in_tool")
        marker.write_text(str(os.getpid()))
        await asyncio.sleep(float(os.environ.get("BANK_TOOL_SECONDS", "0")))
        record("transfer", thread.idempotency_key)
        return f"sent {amount} to {to}"

    @tl.tool(idempotent=True)
    async def lookup(account: str, thread: tl.ThreadState[dict[str, object]]) -> str:
        """Read a balance (idempotent)."""
        record("lookup", thread.idempotency_key)
        return f"{account}: 100"

    @tl.tool(needs_approval=True)
    async def wire(to: str, thread: tl.ThreadState[dict[str, object]]) -> str:
        """Wire money abroad (needs approval)."""
        record("wire", thread.idempotency_key)
        return f"wired to {to}"

    return [transfer, lookup, wire]


class BankModel:
    """Deterministic by history: a user message asks for its tool; a tool result is answered
    in several deltas (so a crash can hit mid-stream); a plain message is echoed."""

    name = "bank"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1].payload
        if isinstance(last, UserMessage):
            text = request.items[-1].text
            tool, args = {
                "pay": ("transfer", '{"to": "ann", "amount": 5}'),
                "balance": ("lookup", '{"account": "ann"}'),
                "wire": ("wire", '{"to": "bob"}'),
            }.get(text, (None, None))
            if tool is not None and args is not None:
                call = ToolCallRequest(
                    tool_call_id=f"call_{len(request.items)}", name=tool, arguments=args
                )
                yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")
                return
            answer = f"echo {text}"
        else:
            assert isinstance(last, ToolResult)
            answer = f"Done: {last.output} ({last.outcome})"
        words = answer.split(" ")
        for n, word in enumerate(words):
            yield TextDelta(delta=word if n == len(words) - 1 else word + " ")
            await asyncio.sleep(0)
        yield ModelResponse(text=answer)


def make_app(store: str, folder: str, faults: FaultPoints | None = None) -> tl.Threadline:
    agent = tl.Agent(name="bank", tools=make_tools(folder), model=BankModel())
    return tl.Threadline(
        agents=[agent], store=store, faults=faults, lease_seconds=LEASE_SECONDS, shutdown_grace=0
    )


async def run(store: str, folder: str, fault: str, scenario: str) -> None:
    async with make_app(store, folder, FaultPoints.from_spec(fault)) as app:
        thread = await app.threads.start(key="the-thread")
        result = await thread.run(scenario)
        print(result.status, flush=True)


async def recover(store: str, folder: str) -> None:
    async with make_app(store, folder) as app:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            await (await app.recover()).wait()
            turns = [
                t
                for page in [await app.threads.list(limit=100)]
                for th in page.threads
                for t in await th.turns()
            ]
            busy = [t for t in turns if not t.is_final and t.status != "awaiting_approval"]
            inbox = [
                e
                for page in [await app.threads.list(limit=100)]
                for th in page.threads
                for e in await th.inbox()
            ]
            if turns and not busy and not inbox and not app._engine.active:
                break
            await asyncio.sleep(0.05)
        print("recovered", flush=True)


async def approve(store: str, folder: str, fault: str) -> None:
    async with make_app(store, folder, FaultPoints.from_spec(fault)) as app:
        thread = await app.threads.start(key="the-thread")
        for pending in await thread.pending():
            await thread.approve(pending.tool_call_id)
        print((await thread.resume_turn()).status, flush=True)


async def queue(store: str, folder: str) -> None:
    os.environ["BANK_TOOL_SECONDS"] = "30"
    async with make_app(store, folder) as app:
        thread = await app.threads.start(key="the-thread")
        running = asyncio.create_task(thread.run("pay"))
        while not Path(folder, "in_tool").exists():
            await asyncio.sleep(0.01)
        await thread.enqueue("two")
        await thread.enqueue("three")
        await thread.schedule("four", delay=0.2)
        os.kill(os.getpid(), signal.SIGKILL)
        await running


if __name__ == "__main__":
    store_spec, work_dir, mode, *rest = sys.argv[1:]
    if mode == "run":
        asyncio.run(run(store_spec, work_dir, rest[0], rest[1]))
    elif mode == "recover":
        asyncio.run(recover(store_spec, work_dir))
    elif mode == "approve":
        asyncio.run(approve(store_spec, work_dir, rest[0] if rest else ""))
    elif mode == "queue":
        asyncio.run(queue(store_spec, work_dir))
    else:
        raise SystemExit(f"unknown mode {mode}")
