"""The Responses API's WebSocket mode, on `/v1/responses`.

A client sends `response.create` messages (the body of `POST /v1/responses` with a `type`,
without `stream` or `background`) and receives the events a stream of that response would
carry, one JSON text message each, with the same sequence numbers, and no `[DONE]`. The
connection serves one response at a time, in the order they were asked for. A request that
cannot start gets one `error` message with its HTTP status, and the connection stays open.

A store=false response stays usable as `previous_response_id` on its own connection until
the connection closes, or until a continuation of it fails; no other connection or HTTP
request ever sees it, and its conversation is deleted with the connection. The security
middleware has checked the connection's `Host`, `Origin` and key before it gets here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from threadline._logging import log_failure
from threadline.types import ThreadlineError

from .._body import parse_json
from .._config import ServerConfig
from .._errors import APIError, invalid
from .._websocket_messages import received
from ._access import hold
from ._feed import ClientTooSlow, follow
from ._responses_api import ResponsesAPI
from ._runs import delete_thread

logger = logging.getLogger("threadline.server")

_CODES = {400: "invalid_request", 404: "not_found", 409: "conflict", 413: "request_too_large"}
_MAX_PENDING = 64  # messages read ahead of the response being answered; then reading waits
_GOING_AWAY = 1001
_TOO_SLOW = 1008
_ENVELOPE = ("type", "stream_id", "generate", "background", "stream", "stream_options")


def error_message(error: APIError, stream_id: str | None = None) -> dict[str, Any]:
    """A WebSocket `error` message: the HTTP error's body with its status."""
    body = error.body()["error"]
    message: dict[str, Any] = {
        "type": "error",
        "status": error.status,
        "error": {**body, "code": error.code or _CODES.get(error.status, "server_error")},
    }
    if stream_id is not None:
        message["stream_id"] = stream_id
    return message


class ResponsesSocket:
    """The WebSocket route of `/v1/responses`. `close()` ends every connection."""

    def __init__(self, api: ResponsesAPI) -> None:
        self.api = api
        self._connections: set[asyncio.Task[None]] = set()

    def route(self) -> WebSocketRoute:
        return WebSocketRoute("/v1/responses", self._serve, name="responses-websocket")

    async def close(self) -> None:
        """End every connection (their store=false conversations are deleted)."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)

    async def _serve(self, websocket: WebSocket) -> None:
        task = asyncio.current_task()
        assert task is not None
        held = hold(websocket)
        incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue(_MAX_PENDING)
        reader: asyncio.Task[None] | None = None
        self._connections.add(task)
        try:
            await websocket.accept()
            reader = asyncio.get_running_loop().create_task(_read(websocket, incoming))
            while (message := await incoming.get()) is not None:
                if not await self._respond(websocket, message, held):
                    break
        except (WebSocketDisconnect, OSError, asyncio.CancelledError):
            pass  # the client went away, or the server is shutting down
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
            if websocket.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close(code=_GOING_AWAY)
            await asyncio.shield(_forget_all(self.api, held))
            self._connections.discard(task)

    async def _respond(self, websocket: WebSocket, message: str | bytes, held: set[str]) -> bool:
        """Answer one client message; False if the connection must close."""
        config = self.api.access.config
        body: dict[str, Any] = {}
        try:
            body = parse_json(
                message, max_bytes=config.max_body_bytes, max_depth=config.max_json_depth
            )
            begun = await self.api.begin(websocket, _create_body(body), None, held=held)
        except APIError as error:
            await self._evict(websocket, body.get("previous_response_id"), held)
            return await _send(websocket, error_message(error, _stream_id(body)), config)
        except Exception as exc:
            log_failure(logger, "a WebSocket response.create failed unexpectedly", exc=exc)
            error = APIError(500, "internal server error", code="internal_error")
            return await _send(websocket, error_message(error, _stream_id(body)), config)
        stream_id = _stream_id(body)
        events = follow(begun.segment, begun.translator, tick=config.keepalive_seconds / 2)
        try:
            async for batch in events:
                for event in batch or ():
                    if stream_id is not None:
                        event = {**event, "stream_id": stream_id}
                    if not await _send(websocket, event, config):
                        return False
        except ClientTooSlow:
            await websocket.close(code=_TOO_SLOW, reason="the client fell too far behind")
            return False
        finally:
            await events.aclose()
            begun.cleanup()
        if begun.translator.status == "failed":
            await self._evict(websocket, body.get("previous_response_id"), held)
        return True

    async def _evict(self, websocket: WebSocket, response_id: Any, held: set[str]) -> None:
        """A failed continuation of a store=false response ends that response's life."""
        if not isinstance(response_id, str) or not held:
            return
        with contextlib.suppress(APIError):
            found = await self.api.access.response(websocket, response_id)
            if found.thread.id in held:
                held.discard(found.thread.id)
                await _forget(self.api, found.thread.id)


def _create_body(message: dict[str, Any]) -> dict[str, Any]:
    """The create request a `response.create` message carries."""
    kind = message.get("type")
    if kind != "response.create":
        raise invalid(
            f"unknown client event type {str(kind)[:60]!r}: this server accepts response.create",
            param="type",
            code="unknown_event_type",
        )
    if message.get("background"):
        raise invalid("background mode is not supported over WebSocket", param="background")
    if message.get("generate") is False:
        raise invalid(
            "generate=false (preparing a response without generating it) is not supported "
            "by this server",
            param="generate",
        )
    # Streaming is the transport's; the rest is the body of POST /v1/responses.
    return {key: value for key, value in message.items() if key not in _ENVELOPE}


def _stream_id(message: dict[str, Any]) -> str | None:
    stream_id = message.get("stream_id")
    return stream_id if isinstance(stream_id, str) else None


async def _read(websocket: WebSocket, incoming: asyncio.Queue[str | bytes | None]) -> None:
    try:
        async for data in received(websocket):
            await incoming.put(data)
    finally:
        # With the queue full, the answers still pending fail to send and end the loop.
        with contextlib.suppress(asyncio.QueueFull):
            incoming.put_nowait(None)


async def _send(websocket: WebSocket, event: dict[str, Any], config: ServerConfig) -> bool:
    """Write one message; False if the client stopped reading or went away."""
    try:
        async with asyncio.timeout(config.write_timeout_seconds):
            await websocket.send_text(orjson.dumps(event).decode())
    except (TimeoutError, OSError, WebSocketDisconnect, RuntimeError):
        return False
    return True


async def _forget_all(api: ResponsesAPI, held: set[str]) -> None:
    for thread_id in list(held):
        await _forget(api, thread_id)
    held.clear()


async def _forget(api: ResponsesAPI, thread_id: str) -> None:
    """Delete a store=false conversation, interrupting its turn if one still runs."""
    try:
        thread = await api.access.app.threads.resume(thread_id)
        if (await thread.reload()).active_turn_id is not None:
            with contextlib.suppress(ThreadlineError):
                await thread.interrupt()
        await delete_thread(thread)
    except ThreadlineError as exc:
        log_failure(logger, "a store=false conversation could not be deleted", exc=exc)
