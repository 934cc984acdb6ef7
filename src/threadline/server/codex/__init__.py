"""The Codex app-server v2 protocol (JSON-RPC), over stdio and WebSocket.

IDE-style clients written for `codex app-server` drive threadline threads: the app's agents
are the protocol's models, tools appear as `mcpToolCall` items, approvals are server-to-client
requests. `threadline/*` methods carry what the Codex methods do not (the remote client in
`threadline.client` speaks them).

    route = websocket_route(app, authorize=lambda token: token == key)   # ASGI
    asyncio.run(serve_stdio(app))                                        # stdio
"""

from ._hub import Hub
from ._jsonrpc import Limits, RpcError
from ._session import Session
from ._stdio import serve_stdio
from ._websocket import CodexRoute, websocket_route

__all__ = ["CodexRoute", "Hub", "Limits", "RpcError", "Session", "serve_stdio", "websocket_route"]
