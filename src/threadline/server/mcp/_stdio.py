"""The MCP server over stdio, for one client that starts it as a subprocess
(`threadline mcp APP`). The local user owns every thread: there is no identity to check."""

from __future__ import annotations

from mcp.server.stdio import stdio_server

from threadline import Threadline

from ._server import MCPTools
from ._turns import TurnTasks


async def serve_mcp_stdio(app: Threadline) -> None:
    """Open `app`, continue what crashed, serve MCP on stdin/stdout until the client closes
    stdin, then close the app: turns still running are handed back for recovery.

        asyncio.run(serve_mcp_stdio(tl.Threadline(agents=[agent])))

    Raises `ConfigurationError` for an agent named like a built-in tool.
    """
    tasks = TurnTasks()
    tools = MCPTools(app, tasks=tasks)
    try:
        async with app:
            await app.recover()
            async with stdio_server() as (read_stream, write_stream):
                await tools.server.run(
                    read_stream, write_stream, tools.server.create_initialization_options()
                )
    finally:
        await tasks.close()
