"""Tools, prompts and resources from MCP servers, through the official `mcp` SDK (the client
side: an agent using a server's tools). The SDK is imported when a server is first used."""

from ._server import FileTarget, MCPServer
from ._tools import IDEMPOTENCY_KEY_META, MCPTool, tool_output
from ._transports import HttpTransport

__all__ = [
    "IDEMPOTENCY_KEY_META",
    "FileTarget",
    "HttpTransport",
    "MCPServer",
    "MCPTool",
    "tool_output",
]
