"""One JSON-RPC connection to a threadline app-server over WebSocket, which reconnects by
itself and lets long-running calls pick up where they were."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from threadline import __version__
from threadline.types import ConfigurationError, ThreadlineError

from ._errors import ConnectionLostError, error_from_wire

logger = logging.getLogger("threadline.client")

NotificationHandler = Callable[[dict[str, Any]], None]
_METHOD_NOT_FOUND = -32601
_FIRST_BACKOFF = 0.05
_MAX_BACKOFF = 2.0


class Follower(Protocol):
    """Something that must be told when the connection is back (a run, a subscription)."""

    def reconnected(self) -> None: ...


class Connection:
    """Requests and notifications over one WebSocket, restored after a drop.

    Requests in flight when the connection drops fail with `ConnectionLostError`; long
    calls (runs, subscriptions) register as followers and resume after the reconnect.
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        reconnect_timeout: float = 30.0,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.url = url
        self._api_key = api_key
        self._reconnect_timeout = reconnect_timeout
        self._max_message_bytes = max_message_bytes
        self._socket: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._handlers: dict[str, NotificationHandler] = {}
        self._followers: set[Follower] = set()
        self._connected = asyncio.Event()
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._failure: ThreadlineError | None = None
        self.closed = False

    # -- connecting --------------------------------------------------------------------------

    async def open(self) -> None:
        async with self._lock:
            if self._connected.is_set():
                return
            if self.closed:
                raise ConnectionLostError("the client is closed")
            await self._connect()

    async def _connect(self) -> None:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else None
        try:
            socket = await connect(
                self.url,
                additional_headers=headers,
                max_size=self._max_message_bytes,
                open_timeout=10,
            )
        except InvalidURI as exc:
            raise ConfigurationError(f"not a WebSocket URL: {self.url!r}") from exc
        except InvalidHandshake as exc:
            raise ConnectionLostError(f"the server refused the connection: {exc}") from None
        except OSError as exc:
            raise ConnectionLostError(f"cannot connect to {self.url}: {exc}") from None
        self._socket = socket
        self._reader = asyncio.get_running_loop().create_task(self._read(socket))
        try:
            await self._call(
                socket,
                "initialize",
                {
                    "clientInfo": {
                        "name": "threadline_client",
                        "title": "threadline client",
                        "version": __version__,
                    },
                    "capabilities": {"experimentalApi": True},
                },
            )
            await self.notify("initialized", {})
            self._connected.set()
        except BaseException:
            self._socket = None
            self._connected.clear()
            await socket.close()
            raise

    async def wait_connected(self) -> None:
        """Until the connection is up again; raises if it cannot be restored."""
        await self._connected.wait()
        if self._failure is not None:
            raise self._failure

    def follow(self, follower: Follower) -> None:
        self._followers.add(follower)

    def unfollow(self, follower: Follower) -> None:
        self._followers.discard(follower)

    def on(self, method: str, handler: NotificationHandler) -> None:
        self._handlers[method] = handler

    # -- messages ----------------------------------------------------------------------------

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        """Send a request and return its result; a JSON-RPC error is raised as the
        threadline error it stands for."""
        if not self._connected.is_set() and not self.closed and self._socket is None:
            await self.open()
        await self.wait_connected()
        socket = self._socket
        if socket is None:
            raise ConnectionLostError(f"the connection dropped before {method} was sent")
        return await self._call(socket, method, params)

    async def _call(self, socket: ClientConnection, method: str, params: dict[str, Any]) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await socket.send(
                orjson.dumps({"id": request_id, "method": method, "params": params}).decode()
            )
        except ConnectionClosed:
            self._pending.pop(request_id, None)
            raise ConnectionLostError(f"the connection dropped before {method} was sent") from None
        try:
            return await future
        finally:
            self._pending.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(orjson.dumps({"method": method, "params": params}).decode())

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _read(self, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                self._dispatch(orjson.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self._lost(socket)

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if method is None:
            future = self._pending.get(message.get("id"))  # type: ignore[arg-type]
            if future is not None and not future.done():
                if message.get("error") is not None:
                    future.set_exception(error_from_wire(message["error"]))
                else:
                    future.set_result(message.get("result"))
            return
        if "id" in message:  # the server asks something this client does not answer
            self.spawn(self._refuse(message["id"], str(method)))
            return
        handler = self._handlers.get(str(method))
        if handler is not None:
            handler(message.get("params") or {})

    async def _refuse(self, request_id: Any, method: str) -> None:
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(ConnectionClosed):
                await socket.send(
                    orjson.dumps(
                        {
                            "id": request_id,
                            "error": {
                                "code": _METHOD_NOT_FOUND,
                                "message": f"threadline client does not handle {method}",
                            },
                        }
                    ).decode()
                )

    # -- losing and restoring ----------------------------------------------------------------

    def _lost(self, socket: ClientConnection) -> None:
        if self._socket is not socket:
            return
        self._socket = None
        self._connected.clear()
        lost = ConnectionLostError("the connection to the server dropped")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(lost)
        self._pending.clear()
        if not self.closed:
            self.spawn(self._reconnect())

    async def _reconnect(self) -> None:
        delay = _FIRST_BACKOFF
        deadline = asyncio.get_running_loop().time() + self._reconnect_timeout
        while not self.closed:
            try:
                async with self._lock:
                    if not self._connected.is_set():
                        await self._connect()
                break
            except ConnectionLostError as exc:
                if asyncio.get_running_loop().time() > deadline:
                    self._failure = ConnectionLostError(
                        f"could not reconnect to {self.url} within "
                        f"{self._reconnect_timeout:g} s: {exc.message}"
                    )
                    self._connected.set()  # wake the waiters, to fail
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)
        for follower in list(self._followers):
            follower.reconnected()

    async def close(self) -> None:
        self.closed = True
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLostError("the client was closed"))
        self._failure = ConnectionLostError("the client was closed")
        self._connected.set()
