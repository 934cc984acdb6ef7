"""`threadline mcp APP` as an MCP client starts it: a real subprocess driven over its stdin
and stdout by the official `mcp` client. The threads it keeps outlive it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from mcp.client.session import ClientSession, ElicitationFnT
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_harness import TOOLS, answering, structured, text

REPO = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def mcp_process(
    db: Path, *, elicitation: ElicitationFnT | None = None
) -> AsyncGenerator[ClientSession]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    command = StdioServerParameters(
        command=sys.executable,
        args=["-m", "threadline.cli", "mcp", "tests.server.apps:agents", "--db", str(db)],
        env=env,
        cwd=db.parent,
    )
    with (db.parent / "stderr.log").open("a") as errors:
        async with (
            stdio_client(command, errlog=errors) as (read, write),
            ClientSession(read, write, elicitation_callback=elicitation) as session,
        ):
            await session.initialize()
            yield session


@pytest.mark.slow
async def test_the_stdio_server_runs_turns_and_its_threads_outlive_it(tmp_path: Path) -> None:
    db = tmp_path / "threadline.db"
    decline_then_cancel, asked = answering("decline", "cancel")
    async with mcp_process(db, elicitation=decline_then_cancel) as session:
        tools = sorted(tool.name for tool in (await session.list_tools()).tools)
        first = await session.call_tool("assistant", {"input": "say hi there"})
        thread_id = structured(first)["thread_id"]
        denied = await session.call_tool(
            "assistant", {"input": "transfer 4", "thread_id": thread_id}
        )
        paused = structured(
            await session.call_tool("assistant", {"input": "transfer 6", "thread_id": thread_id})
        )
    async with mcp_process(db) as session:  # a new process answers what the last one left
        done = await session.call_tool(
            "answer_approval",
            {
                "thread_id": thread_id,
                "tool_call_id": paused["pending_approvals"][0]["tool_call_id"],
                "decision": "approve",
            },
        )
        listed = structured(await session.call_tool("list_threads", {}))

    assert tools == TOOLS
    assert text(first) == "hi there"
    assert len(asked) == 2
    assert text(denied) == "transfer returned Error: a human denied this call. It was not run."
    assert paused["status"] == "paused"
    assert text(done) == "transfer returned sent 6"
    assert structured(done)["thread_id"] == thread_id
    assert [t["thread_id"] for t in listed["threads"]] == [thread_id]
