"""The app-server over WebSocket: one JSON-RPC message per text frame, as an ASGI route."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketState

from threadline import Threadline

from .._config import is_loopback
from .._websocket_messages import received
from ._hub import Hub
from ._jsonrpc import INVALID_REQUEST, Limits, RpcError
from ._session import Session

logger = logging.getLogger("threadline.server.codex")

Authorize = Callable[[str | None], bool]
Identify = Callable[[str | None], str | Awaitable[str | None] | None]
"""The identity whose threads a connection may see, from its bearer token (None: all); it
may be a coroutine function, and an exception it raises refuses the connection."""
_POLICY_VIOLATION = 1008


class CodexRoute(WebSocketRoute):
    """A Starlette WebSocket route serving the Codex app-server protocol for one app.
    `close()` ends every connection (their turns keep running)."""

    def __init__(
        self,
        app: Threadline,
        *,
        path: str,
        authorize: Authorize | None,
        identify: Identify | None,
        limits: Limits,
        retention: float,
    ) -> None:
        self.threadline = app
        self.authorize = authorize
        self.identify = identify
        self.limits = limits
        self.retention = retention
        self.sessions: set[Session] = set()
        self._hub: Hub | None = None
        super().__init__(path, self._serve, name="codex-app-server")

    @property
    def hub(self) -> Hub:
        if self._hub is None:
            self._hub = Hub(self.threadline, retention=self.retention)
        return self._hub

    async def _serve(self, websocket: WebSocket) -> None:
        token = _bearer(websocket)
        if not self._allowed(websocket, token):
            await websocket.close(code=_POLICY_VIOLATION)
            return
        try:
            identity = await self._identity(token)
        except Exception as exc:
            logger.debug("refused a connection: %s", type(exc).__name__)
            await websocket.close(code=_POLICY_VIOLATION)
            return
        await websocket.accept()
        session = Session(self.hub, limits=self.limits, identity=identity)
        self.sessions.add(session)
        loop = asyncio.get_running_loop()
        writer = loop.create_task(_write(session, websocket))
        reader = loop.create_task(_read(session, websocket, self.limits))
        closing = loop.create_task(session.closed.wait())
        try:
            await asyncio.wait({writer, reader, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            session.shut(session.close_reason or "the client disconnected")
            for task in (reader, closing):
                task.cancel()
            await session.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 1.0)
            self.sessions.discard(session)
            if websocket.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close()

    async def _identity(self, token: str | None) -> str | None:
        if self.identify is None:
            return None
        identity = self.identify(token)
        if inspect.isawaitable(identity):
            return await identity
        return identity

    def _allowed(self, websocket: WebSocket, token: str | None) -> bool:
        if self.authorize is not None:
            return self.authorize(token)
        # Without keys, only same-machine pages may connect: a web page elsewhere must not
        # drive the agents through the visitor's browser. (`threadline serve` checks the
        # Origin of every request before this, against the names it answers to.)
        origin = websocket.headers.get("origin")
        return origin is None or is_loopback(urlsplit(origin).hostname or "")

    async def disconnect_all(self) -> None:
        """Drop every connection; clients reconnect and pick up where they were."""
        for session in list(self.sessions):
            session.shut("closed by the server")

    async def close(self) -> None:
        """End every connection and stop relaying (call before closing the app)."""
        await self.disconnect_all()
        if self._hub is not None:
            await self._hub.close()


async def _read(session: Session, websocket: WebSocket, limits: Limits) -> None:
    async for data in received(websocket):
        if session.closed.is_set():
            return
        if len(data) > limits.max_message_bytes:
            session.refuse(
                RpcError(
                    INVALID_REQUEST,
                    f"message of {len(data)} bytes is over "
                    f"the limit of {limits.max_message_bytes} bytes",
                )
            )
            continue
        await session.receive(data)


async def _write(session: Session, websocket: WebSocket) -> None:
    try:
        async for batch in session.outgoing():
            for data in batch:
                await websocket.send_text(data.decode())
    except Exception:
        session.shut("could not write to the client")


def _bearer(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def websocket_route(
    app: Threadline,
    *,
    path: str = "/codex",
    authorize: Authorize | None = None,
    identify: Identify | None = None,
    limits: Limits | None = None,
    retention: float = 60.0,
) -> CodexRoute:
    """A route that serves the Codex app-server v2 protocol over WebSocket.

    Args:
        app: the app whose threads clients drive (opened by whoever serves the route).
        path: where to mount it.
        authorize: called with the bearer token of each connection (None if it sent
            none); False refuses the connection. Without it, connections from web pages of
            other hosts (a foreign `Origin`) are refused.
        identify: the identity of each connection, from its bearer token: its threads are
            started as that user, and it sees no other threads. It may be async; an
            exception it raises refuses the connection.
        limits: message size and depth, how far behind a client may fall.
        retention: seconds the events of a run or subscription are kept for a client that
            reconnects.

        routes = [websocket_route(app, authorize=lambda token: token == key)]
        server = Starlette(routes=routes)
    """
    return CodexRoute(
        app,
        path=path,
        authorize=authorize,
        identify=identify,
        limits=limits or Limits(),
        retention=retention,
    )
