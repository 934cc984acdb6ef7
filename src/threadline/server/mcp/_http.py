"""MCP's streamable HTTP transport at `/mcp`, behind the server's security gate: the gate
has checked the caller's key (and `Host`, `Origin`, content type) before a request gets
here, and a session opened with one key answers no other."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from threadline import Threadline

from .._config import ServerConfig
from .._security import identity_of
from ._server import MCPTools
from ._turns import TurnTasks

MCP_PATH = "/mcp"


class MCPEndpoint:
    """The ASGI endpoint of `/mcp`. Its `run()` must enclose serving (the app's lifespan);
    `close()` waits for the turns its calls started, after the app has closed.

        endpoint = MCPEndpoint(app, ServerConfig())
        routes = [endpoint.route()]
    """

    def __init__(self, app: Threadline, config: ServerConfig) -> None:
        self.tasks = TurnTasks()
        self.tools = MCPTools(app, tasks=self.tasks, identified=config.authenticated)
        self._sessions = StreamableHTTPSessionManager(
            app=self.tools.server, max_request_body_size=config.max_body_bytes
        )

    def route(self) -> Route:
        return Route(MCP_PATH, endpoint=self, methods=["GET", "POST", "DELETE"])

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncGenerator[None]:
        async with self._sessions.run():
            yield

    async def close(self) -> None:
        await self.tasks.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = identity_of(scope)
        if identity is not None:
            # The session manager ties each session to the user who opened it.
            token = AccessToken(token=identity, client_id=identity, scopes=[])
            scope["user"] = AuthenticatedUser(token)
        await self._sessions.handle_request(scope, receive, send)
