"""The network side of threadline: wire protocols served to clients nobody here wrote.

`create_app(app, ServerConfig(...))` is the ASGI app of `threadline serve`: the OpenAI
Responses and Conversations API under `/v1`, the Codex app-server protocol over WebSocket
at `/codex` and the agents as MCP tools at `/mcp` (`threadline.server.mcp`), behind a
loopback-by-default gate that checks API keys and, with `OIDCConfig`, the tokens of an
OpenID provider.
"""

from ._app import create_app
from ._config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    OIDCConfig,
    ServerConfig,
    is_loopback,
    key_identity,
    oidc_identity,
)
from ._uvicorn import uvicorn_config

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "OIDCConfig",
    "ServerConfig",
    "create_app",
    "is_loopback",
    "key_identity",
    "oidc_identity",
    "uvicorn_config",
]
