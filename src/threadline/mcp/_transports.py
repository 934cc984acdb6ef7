"""How to reach an MCP server: a subprocess over stdio, or a URL over streamable HTTP or SSE.
Each opening yields the SDK's stream pair, with the read side watched so that the end of the
server's stream (it exited, or the HTTP connection broke) is noticed at once."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mcp.client._transport import TransportStreams

HttpTransport = Literal["auto", "streamable_http", "sse"]
"""How to speak to an MCP server at a URL: "streamable_http", "sse" (the older HTTP+SSE
transport), or "auto": streamable HTTP, and SSE when the server has only that."""

Opening = Callable[[], "AbstractAsyncContextManager[TransportStreams]"]
"""One way of opening a transport's streams."""

CONNECT_SECONDS = 30.0  # connecting, and each HTTP request but a stream's reads
STREAM_READ_SECONDS = 300.0  # how long an HTTP event stream may stay silent


@dataclass(frozen=True, kw_only=True)
class StdioTransport:
    """A server run as a subprocess, spoken to over its stdin and stdout. Its arguments and
    environment (which may hold tokens) are shown nowhere."""

    command: str
    args: tuple[str, ...] = field(default=(), repr=False)
    env: Mapping[str, str] | None = field(default=None, repr=False)
    cwd: str | None = None

    def attempts(self) -> list[Opening]:
        return [self._open]

    def _open(self) -> AbstractAsyncContextManager[TransportStreams]:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        parameters = StdioServerParameters(
            command=self.command,
            args=list(self.args),
            env=dict(self.env) if self.env is not None else None,
            cwd=Path(self.cwd) if self.cwd is not None else None,
        )
        return stdio_client(parameters, errlog=sys.stderr)


@dataclass(frozen=True, kw_only=True)
class UrlTransport:
    """A server at a URL. `headers` (often a token) are sent with every request and shown
    nowhere."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict[str, str], repr=False)
    transport: HttpTransport = "auto"

    def attempts(self) -> list[Opening]:
        if self.transport == "streamable_http":
            return [self._streamable]
        if self.transport == "sse":
            return [self._sse]
        return [self._streamable, self._sse]

    @asynccontextmanager
    async def _streamable(self) -> AsyncGenerator[TransportStreams]:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        timeout = httpx2.Timeout(CONNECT_SECONDS, read=STREAM_READ_SECONDS)
        async with (
            httpx2.AsyncClient(headers=dict(self.headers), timeout=timeout) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            yield streams

    def _sse(self) -> AbstractAsyncContextManager[TransportStreams]:
        from mcp.client.sse import sse_client

        return sse_client(
            self.url,
            headers=dict(self.headers),
            timeout=CONNECT_SECONDS,
            sse_read_timeout=STREAM_READ_SECONDS,
        )


Transport = StdioTransport | UrlTransport


@asynccontextmanager
async def watched(
    opening: AbstractAsyncContextManager[TransportStreams], on_end: Callable[[], None]
) -> AsyncGenerator[TransportStreams]:
    """The streams of `opening`, calling `on_end` once the server's side ends."""
    async with opening as (read, write):
        yield _WatchedRead(read, on_end), write


class _WatchedRead:
    """A read stream that says when it ends: the session's receive loop sees the end of the
    server's stream here first."""

    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except BaseException:
            self._on_end()
            raise

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except BaseException:
            self._on_end()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedRead:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        self._on_end()
        return await self._inner.__aexit__(exc_type, exc_val, exc_tb)
