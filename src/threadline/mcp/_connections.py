"""Sessions with MCP servers: opened on first use, one per server and event loop (so shared by
every agent and thread of the process that uses it), and opened again when the server went away.

The SDK's transports must be closed by the task that opened them (they hold task groups and,
over stdio, the server's process), so each session lives in a task of its own that opens it,
waits to be told to stop (or for the server's stream to end) and closes it. Callers talk to it
from their own tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakKeyDictionary

from threadline.types import MCPServerUnavailableError, ToolError

from ._transports import Opening, Transport, watched

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import Tool as ToolSpec

logger = logging.getLogger("threadline.mcp")

T = TypeVar("T")
E = TypeVar("E")
_PAGES = 100  # a server whose listing never ends cannot hang a step


class NotSent(MCPServerUnavailableError):
    """The session was over before the request could be sent: another may take it."""


class Connection:
    """One session with a server, owned by a task of its own."""

    def __init__(self, server: str, opening: Opening) -> None:
        self._server = server  # its name, for messages
        self._opening = opening
        self.client: Client | None = None
        self.ended = asyncio.Event()  # the session is over: lost, failed or closed
        self._stop = asyncio.Event()
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.tools: list[ToolSpec] | None = None  # its listing; None: to be listed (again)

    @property
    def usable(self) -> bool:
        return self.client is not None and not self.ended.is_set()

    async def open(self, seconds: float) -> None:
        """Open the session. Raises `MCPServerUnavailableError` whose message says why in
        words that hold no header, URL or secret."""
        await _load_sdk()
        loop = asyncio.get_running_loop()
        ready = self._ready = loop.create_future()
        self._task = loop.create_task(self._run(ready))
        try:
            async with asyncio.timeout(seconds):
                await asyncio.shield(ready)
        except TimeoutError:
            await self.close()
            raise MCPServerUnavailableError(
                f"it did not answer within {seconds:g} s", server=self._server
            ) from None
        except BaseException:
            await self.close()
            raise

    async def _run(self, ready: asyncio.Future[None]) -> None:
        from mcp import Client

        try:
            transport = watched(self._opening(), self._lost)
            async with Client(transport, message_handler=self._on_message, cache=None) as client:
                self.client = client
                if not ready.done():
                    ready.set_result(None)
                listening = asyncio.ensure_future(self._listen(client))
                try:
                    await self._stop.wait()
                finally:
                    listening.cancel()
                    with contextlib.suppress(BaseException):
                        await listening
        except Exception as exc:
            if not ready.done():
                ready.set_exception(MCPServerUnavailableError(_reason(exc), server=self._server))
            else:
                logger.info(
                    "the session with MCP server %s ended (%s)", self._server, type(exc).__name__
                )
        finally:
            self.client = None
            self.ended.set()
            if not ready.done():
                ready.set_exception(
                    MCPServerUnavailableError("the connection was closed", server=self._server)
                )

    def _lost(self) -> None:
        if not self._stop.is_set():
            self._stop.set()  # the server's side ended: close ours, and answer what waits
            self.ended.set()

    async def _on_message(self, message: Any) -> None:
        from mcp.types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification):
            self.tools = None

    async def _listen(self, client: Client) -> None:
        """On servers of the 2026 protocol, changes to the tool list arrive on a
        subscription rather than as plain notifications."""
        from mcp.types import ServerCapabilities

        capabilities: ServerCapabilities = client.server_capabilities
        if capabilities.tools is None or not capabilities.tools.list_changed:
            return
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _ in subscription:
                    self.tools = None
        except Exception:  # a server of the older protocol: notifications reach _on_message
            return

    async def close(self) -> None:
        self._stop.set()
        self.ended.set()
        task = self._task
        if task is None or task.done():
            return
        if self._ready is not None and not self._ready.done():
            task.cancel()  # still connecting: nothing waits for the stop event yet
        with contextlib.suppress(BaseException):
            await asyncio.shield(task)

    async def request(
        self, send: Callable[[Client], Awaitable[T]], seconds: float | None, *, what: str
    ) -> T:
        """What `send` gets from the server. Raises `MCPServerUnavailableError` when the
        session ends before the answer (with `sent=True`: it may have acted) or the answer
        takes longer than `seconds`, and `ToolError` with the server's message when it
        answers with an error."""
        from mcp.shared.exceptions import MCPError
        from mcp.types import CONNECTION_CLOSED, INVALID_REQUEST, REQUEST_TIMEOUT

        client = self.client
        if client is None or self.ended.is_set():
            raise NotSent(f"the MCP server {self._server!r} is unavailable", server=self._server)
        answer = asyncio.ensure_future(send(client))
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            done, _ = await asyncio.wait(
                {answer, ended}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
            if not answer.done():
                answer.cancel()
                with contextlib.suppress(BaseException):
                    await answer
        if answer in done:
            try:
                return answer.result()
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED:
                    raise self._lost_during(what) from None
                if exc.code == REQUEST_TIMEOUT:
                    raise self._timed_out(what, seconds) from None
                if exc.code == INVALID_REQUEST and exc.message == "Session terminated":
                    # The server forgot the session (it restarted): the request was refused
                    # unread, and a new session is needed.
                    self._lost()
                    raise NotSent(
                        f"the MCP server {self._server!r} ended the session",
                        server=self._server,
                    ) from None
                raise ToolError(
                    f"the MCP server {self._server!r} answered with an error: {exc.message}",
                    server=self._server,
                ) from None
            except ToolError:
                raise
            except Exception as exc:
                raise ToolError(
                    f"the MCP server {self._server!r} gave an answer that could not be read "
                    f"({type(exc).__name__})",
                    server=self._server,
                ) from None
        if self.ended.is_set():
            raise self._lost_during(what)
        raise self._timed_out(what, seconds)

    def _lost_during(self, what: str) -> MCPServerUnavailableError:
        return MCPServerUnavailableError(
            f"the MCP server {self._server!r} became unavailable during {what} (the "
            "connection was lost)",
            server=self._server,
            sent=True,
        )

    def _timed_out(self, what: str, seconds: float | None) -> MCPServerUnavailableError:
        return MCPServerUnavailableError(
            f"the MCP server {self._server!r} did not answer {what} within {seconds or 0:g} s",
            server=self._server,
            sent=True,
        )

    async def list_tools(self, seconds: float) -> list[ToolSpec]:
        """The server's tools, listed once per session and again after it says they
        changed."""
        tools = self.tools
        if tools is not None:
            return tools
        listing = await paged(
            self.request,
            lambda client, cursor: client.list_tools(cursor=cursor),
            lambda page: page.tools,
            seconds,
            what="the listing of its tools",
        )
        self.tools = listing
        return listing


async def paged(
    request: Callable[..., Awaitable[Any]],
    fetch: Callable[[Client, str | None], Awaitable[Any]],
    entries: Callable[[Any], Sequence[E]],
    seconds: float | None,
    *,
    what: str,
) -> list[E]:
    """Every entry of a paged MCP listing (tools, prompts, resources), page after page by
    its cursor, with `request` (a session's or the server's connections')."""
    listing: list[E] = []
    cursor: str | None = None
    for _ in range(_PAGES):
        page = await request(functools.partial(_next_page, fetch, cursor), seconds, what=what)
        listing.extend(entries(page))
        cursor = page.next_cursor
        if cursor is None:
            break
    return listing


def _next_page(
    fetch: Callable[[Client, str | None], Awaitable[Any]], cursor: str | None, client: Client
) -> Awaitable[Any]:
    return fetch(client, cursor)


class Connections:
    """The sessions with one server: one per event loop, opened when first needed and again
    when the one before ended. `retain` and `release` count the apps that use it on a loop:
    the last to let go closes it."""

    def __init__(self, server: str, transport: Transport, timeout: float) -> None:
        self._server = server
        self._openings = transport.attempts()
        self._timeout = timeout
        self._first = 0  # the way of opening that worked last: tried first next time
        self._loops: WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopConnection] = (
            WeakKeyDictionary()
        )

    def _here(self) -> _LoopConnection:
        loop = asyncio.get_running_loop()
        here = self._loops.get(loop)
        if here is None:
            here = self._loops[loop] = _LoopConnection()
        return here

    async def get(self) -> Connection:
        """The open session of this loop, opened now if needed. Raises
        `MCPServerUnavailableError`."""
        here = self._here()
        current = here.connection
        if current is not None and current.usable:
            return current
        async with here.lock:
            current = here.connection
            if current is not None and current.usable:
                return current
            if current is not None:
                await current.close()
                here.connection = None
            here.connection = await self._open()
            return here.connection

    async def _open(self) -> Connection:
        count = len(self._openings)
        reasons: list[str] = []
        for offset in range(count):
            index = (self._first + offset) % count
            opened = Connection(self._server, self._openings[index])
            try:
                await opened.open(self._timeout)
            except MCPServerUnavailableError as exc:
                if exc.message not in reasons:
                    reasons.append(exc.message)
                continue
            self._first = index
            return opened
        raise MCPServerUnavailableError(
            f"the MCP server {self._server!r} is unavailable: {'; '.join(reasons)}",
            server=self._server,
        )

    async def request(
        self, send: Callable[[Client], Awaitable[T]], seconds: float | None, *, what: str
    ) -> T:
        """`Connection.request` on this loop's session, opened now if needed; when that
        session turns out to be over before the request was sent, once more on a new one."""
        try:
            return await (await self.get()).request(send, seconds, what=what)
        except NotSent:
            return await (await self.get()).request(send, seconds, what=what)

    async def list_tools(self, seconds: float) -> list[ToolSpec]:
        """`Connection.list_tools` on this loop's session, retried like `request`."""
        try:
            return await (await self.get()).list_tools(seconds)
        except NotSent:
            return await (await self.get()).list_tools(seconds)

    def retain(self) -> None:
        self._here().users += 1

    async def release(self) -> None:
        here = self._here()
        here.users = max(0, here.users - 1)
        if here.users == 0:
            await self.close()

    async def close(self) -> None:
        """Close this loop's session, if one is open; the next use opens another."""
        here = self._here()
        async with here.lock:
            if here.connection is not None:
                await here.connection.close()
                here.connection = None


class _LoopConnection:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.connection: Connection | None = None
        self.users = 0


_SDK_MODULES = (
    "mcp",
    "mcp.types",
    "mcp.shared.exceptions",
    "mcp.client.stdio",
    "mcp.client.streamable_http",
    "mcp.client.sse",
)


async def _load_sdk() -> None:
    """Import the SDK off the event loop: the first import takes about half a second, which
    the other turns of the process must not wait for."""
    if not all(name in sys.modules for name in _SDK_MODULES):
        await asyncio.to_thread(lambda: [importlib.import_module(n) for n in _SDK_MODULES])


def _reason(exc: BaseException) -> str:
    """Why a session could not be opened, in words that hold no secret: the kinds of the
    errors (an `ExceptionGroup` is opened up), never their text, which may quote a URL or
    headers; a missing command is named as such."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)  # pyright: ignore[reportUnknownMemberType]
        else:
            leaves.append(current)
    kinds: list[str] = []
    for leaf in leaves:
        if isinstance(leaf, FileNotFoundError):
            kind = "its command was not found"
        elif isinstance(leaf, PermissionError):
            kind = "its command may not be run"
        elif isinstance(leaf, ConnectionError) or type(leaf).__name__ == "ConnectError":
            kind = "nothing answered at its address"
        elif type(leaf).__name__ == "MCPError":
            kind = f"it refused the connection ({getattr(leaf, 'message', '')[:200]})"
        else:
            kind = type(leaf).__name__
        if kind not in kinds:
            kinds.append(kind)
    return ", ".join(kinds) or type(exc).__name__
