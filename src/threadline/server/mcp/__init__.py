"""Threadline's agents as MCP tools, over streamable HTTP (`/mcp` of `threadline serve`)
and stdio (`threadline mcp APP`).

Each agent is a tool (`input`, and `thread_id` to continue a thread) that runs one turn and
returns the answer with the thread's id; `list_threads`, `read_thread` and `answer_approval`
work on the caller's own threads. Turns report progress notifications, and a turn that
pauses for an approval says so, or asks the client's user through elicitation.

    asyncio.run(serve_mcp_stdio(tl.Threadline(agents=[agent])))      # stdio
    create_app(app, config)                                          # HTTP, at /mcp
"""

from ._http import MCP_PATH, MCPEndpoint
from ._server import MCPTools
from ._stdio import serve_mcp_stdio
from ._turns import TurnTasks

__all__ = ["MCP_PATH", "MCPEndpoint", "MCPTools", "TurnTasks", "serve_mcp_stdio"]
