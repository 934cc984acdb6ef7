"""A small MCP server written with the official SDK, run over stdio by the tests that kill it.

    python ledger_mcp_server.py FOLDER

Each start appends the server's pid to FOLDER/pids.txt. `append_line` (not idempotent) notes
each call it receives in FOLDER/calls.txt, then appends a line with its text and the call's
idempotency key to FOLDER/ledger.txt; for the text "slow", the first time, it writes
FOLDER/started (its pid) and waits a minute before that, so that a test can kill it (or the
app) mid-call. `unlock` adds the tool `secret_door` and tells subscribed clients the tools
changed.
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
    key = (ctx.request_context.meta or {}).get(IDEMPOTENCY_KEY_META)
    _append("calls.txt", f"{text} {key}")
    started = FOLDER / "started"
    if text == "slow" and not started.exists():
        started.write_text(str(os.getpid()))
        await asyncio.sleep(60)
    _append("ledger.txt", f"{text} {key}")
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
