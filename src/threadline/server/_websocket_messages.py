"""The messages a WebSocket client sends, for the server's two WebSocket routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.websockets import WebSocket, WebSocketDisconnect


async def received(websocket: WebSocket) -> AsyncIterator[str | bytes]:
    """The data of each message, text or binary, until the client disconnects."""
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: receiving after the close
            return
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes")
        if data is not None:
            yield data
