"""The network side of threadline: wire protocols served to clients nobody here wrote.

`create_app(app, ServerConfig(...))` is the ASGI app of `threadline serve`: the OpenAI
Responses and Conversations API under `/v1`, the Codex app-server protocol over WebSocket
at `/codex` and the agents as MCP tools at `/mcp` (`threadline.server.mcp`), behind a
loopback-by-default, key-checking gate.
"""

from ._app import create_app
from ._config import DEFAULT_HOST, DEFAULT_PORT, ServerConfig, is_loopback, key_identity
from ._uvicorn import uvicorn_config

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ServerConfig",
    "create_app",
    "is_loopback",
    "key_identity",
    "uvicorn_config",
]
