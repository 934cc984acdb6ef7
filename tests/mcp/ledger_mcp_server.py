"""A small MCP server written with the official SDK, run over stdio by the tests that kill it.

    python ledger_mcp_server.py FOLDER

Each start appends the server's pid to FOLDER/pids.txt. `append_line` (not idempotent) appends
a line with its text and the call's idempotency key to FOLDER/ledger.txt; for the text "slow"
it first writes FOLDER/started (its pid) and then waits a minute, so that a test can kill it
mid-call. `unlock` adds the tool `secret_door` and tells subscribed clients the tools changed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from mcp.server.mcpserver import Context, MCPServer

IDEMPOTENCY_KEY_META = "threadline/idempotency-key"  # as threadline.mcp sends it
FOLDER = Path(sys.argv[1])
server = MCPServer("ledger")


def _append(name: str, line: str) -> None:
    with (FOLDER / name).open("a") as file:
        file.write(line + "\n")


@server.tool()
async def append_line(text: str, ctx: Context) -> str:
    """Append a line to the ledger."""
    meta = ctx.request_context.meta or {}
    if text == "slow":
        (FOLDER / "started").write_text(str(os.getpid()))
        await asyncio.sleep(60)
    _append("ledger.txt", f"{text} {meta.get(IDEMPOTENCY_KEY_META)}")
    return f"appended {text}"


def secret_door() -> str:
    """Open the secret door."""
    return "the door opens"


@server.tool()
async def unlock(ctx: Context) -> str:
    """Reveal another tool."""
    server.add_tool(secret_door)
    await ctx.notify_tools_changed()
    return "unlocked"


if __name__ == "__main__":
    _append("pids.txt", str(os.getpid()))
    server.run()
