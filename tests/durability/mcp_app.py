"""An agent whose tool comes from an MCP server (tests/mcp/ledger_mcp_server.py), run in
subprocesses by the crash tests of MCP calls.

    python mcp_app.py STORE DIR run        start a thread and run one turn
    python mcp_app.py STORE DIR recover    recover until every turn has ended

The model calls the server's `append_line` with "slow": the server notes the call in
DIR/calls.txt, writes DIR/started and waits, so that a test can kill this process while the
call is under way. With MCP_IDEMPOTENT=1 the app declares the tool idempotent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from app_process import script_main

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
from threadline.testing import FaultPoints
from threadline.types import ToolResult

LEASE_SECONDS = 1.0
LEDGER_SERVER = Path(__file__).parents[1] / "mcp" / "ledger_mcp_server.py"


class LedgerModel:
    """Calls `append_line` once, then reports the tool's result."""

    name = "ledger"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        last = request.items[-1].payload
        if isinstance(last, ToolResult):
            yield ModelResponse(text=f"Done ({last.outcome}): {last.output}")
            return
        call = ToolCallRequest(
            tool_call_id="call_append", name="append_line", arguments='{"text": "slow"}'
        )
        yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")


def make_app(store: str, folder: str, faults: FaultPoints | None = None) -> tl.Threadline:
    idempotent = {"append_line": True} if os.environ.get("MCP_IDEMPOTENT") == "1" else None
    server = tl.MCPServer.stdio(
        sys.executable, [str(LEDGER_SERVER), folder], name="ledger", idempotent=idempotent
    )
    agent = tl.Agent(name="clerk", tools=[server], model=LedgerModel())
    return tl.Threadline(
        agents=[agent], store=store, faults=faults, lease_seconds=LEASE_SECONDS, shutdown_grace=0
    )


if __name__ == "__main__":
    script_main(make_app, "write it down")
