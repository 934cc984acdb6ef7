"""A server that dies gives an error result the model reads, never a crashed turn: a server of
our own (written with the official SDK) is SIGKILLed in the middle of a call, and the next
call starts it again; a server that never starts leaves the agent its other tools."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from mcp_servers import LEDGER_SERVER

import threadline as tl
from threadline.mcp import IDEMPOTENCY_KEY_META
from threadline.testing import ScriptedModel, check_invariants, tool_call
from threadline.types import ToolResult

pytestmark = pytest.mark.slow


async def _until_exists(path: Path, turn: asyncio.Task[object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(path.exists):
        assert not turn.done(), turn.result()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        await asyncio.sleep(0.02)


async def test_a_server_killed_mid_call_is_reported_and_started_again(tmp_path: Path) -> None:
    server = tl.MCPServer.stdio(sys.executable, [str(LEDGER_SERVER), str(tmp_path)])
    model = ScriptedModel(
        [
            tool_call("unlock"),
            tool_call("append_line", {"text": "slow"}),
            tool_call("append_line", {"text": "again"}),
            "The first write may not have happened; the second did.",
        ]
    )
    agent = tl.Agent(name="clerk", tools=[server])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        turn = asyncio.ensure_future(thread.run("Write it down"))
        await _until_exists(tmp_path / "started", turn)
        os.kill(int((tmp_path / "started").read_text()), signal.SIGKILL)
        result = await turn
        assert await check_invariants(app.store) == []

    assert result.status == "completed"
    unlocked, killed, again = [i for i in result.items if isinstance(i.payload, ToolResult)]
    assert unlocked.payload.output == "unlocked"
    # The server said its tools changed: the next request shows the new one.
    assert "secret_door" not in [t.name for t in model.requests[0].tools]
    assert "secret_door" in [t.name for t in model.requests[1].tools]
    # The call in flight is reported to the model as unknown, and the turn goes on.
    assert killed.payload.outcome == "unknown"
    assert "'ledger_mcp_server' became unavailable" in killed.payload.output
    # The next call started the server again and reached it, with its idempotency key.
    assert again.payload.outcome == "success" and again.payload.output == "appended again"
    assert len((tmp_path / "pids.txt").read_text().split()) == 2
    key = f"{result.turn.turn_id}:{again.payload.tool_call_id}"
    assert (tmp_path / "ledger.txt").read_text().splitlines() == [f"again {key}"]
    assert IDEMPOTENCY_KEY_META == "threadline/idempotency-key"  # as the server reads it


async def test_a_server_that_never_starts_leaves_the_agent_its_own_tools() -> None:
    @tl.tool
    async def ping() -> str:
        """Answer pong."""
        return "pong"

    missing = tl.MCPServer.stdio("/nonexistent/mcp-server", name="missing")
    model = ScriptedModel([tool_call("ping"), "pong."])
    agent = tl.Agent(name="assistant", tools=[ping, missing])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        result = await thread.run("ping")
        assert result.text == "pong."
        assert [t.name for t in model.requests[0].tools] == ["ping"]
        with pytest.raises(tl.MCPServerUnavailableError, match="command was not found") as raised:
            await missing.load_prompt("any")
        assert raised.value.code == "mcp_server_unavailable"
