"""Server-sent events in the Responses profile: `event:` equal to the data's `type`, SSE
comments as keep-alives, and `data: [DONE]` at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable

import orjson
from starlette.types import Message, Receive, Scope, Send

from ._adapter import WireEvent, events_after
from ._feed import ClientTooSlow

_DONE = b"data: [DONE]\n\n"
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
    (b"x-should-retry", b"false"),
]


def encode(event: WireEvent) -> bytes:
    return b"event: %b\ndata: %b\n\n" % (event["type"].encode(), orjson.dumps(event))


class EventStream:
    """An ASGI response that writes Responses events as they come, each batch of the source
    in one write. A client that stops reading for `write_timeout` seconds, or falls further
    behind than the feed's buffer, is dropped; the turn is not slowed. `finished` tells,
    after a batch, whether it was the last: then it goes out with the end of the stream."""

    def __init__(
        self,
        source: AsyncGenerator[list[WireEvent] | None],
        *,
        starting_after: int | None,
        keepalive: float,
        write_timeout: float,
        finished: Callable[[], bool] = lambda: False,
        cleanup: Callable[[], None] | None = None,
    ) -> None:
        self._source = source
        self._finished = finished
        self._cleanup = cleanup
        self._starting_after = starting_after
        self._keepalive = keepalive
        self._write_timeout = write_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = asyncio.Event()

        async def watch() -> None:
            while True:
                message: Message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected.set()
                    return

        watcher = asyncio.get_running_loop().create_task(watch())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
            await self._write(send, await self._pump(send, disconnected), more=False)
        except (TimeoutError, OSError):
            pass  # the client stopped reading or went away; the turn goes on without it
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            await self._source.aclose()
            if self._cleanup is not None:
                self._cleanup()

    async def _pump(self, send: Send, disconnected: asyncio.Event) -> bytes:
        """Write events until the source ends or the client is gone; return what goes out
        with the end of the stream: the last events and `[DONE]`, or nothing."""
        last_write = time.monotonic()
        try:
            async for batch in self._source:
                if disconnected.is_set():
                    return b""
                if batch is None:
                    if time.monotonic() - last_write >= self._keepalive:
                        await self._write(send, b": keep-alive\n\n")
                        last_write = time.monotonic()
                    continue
                if self._starting_after is not None:
                    batch = list(events_after(batch, self._starting_after))
                chunk = b"".join([encode(event) for event in batch])
                if self._finished():
                    return chunk + _DONE
                if chunk:
                    await self._write(send, chunk)
                    last_write = time.monotonic()
        except ClientTooSlow:
            return b""
        return b"" if disconnected.is_set() else _DONE

    async def _write(self, send: Send, chunk: bytes, *, more: bool = True) -> None:
        async with asyncio.timeout(self._write_timeout):
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
