"""The Slack adapter's HTTP endpoint (an ASGI app): Slack's signature and the request's age are
checked before anything else is read, the URL verification challenge is answered, and each
event is acknowledged at once, within Slack's three seconds, while the bot handles it."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ._slack_events import Receiver, callback_events, interaction_events
from ._types import ChatEvent

logger = logging.getLogger("threadline.bots")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_BODY = 1024 * 1024
ACK_BUDGET = 2.0  # seconds spent looking people up before answering Slack (it waits 3)
_REMEMBERED = 4096  # event ids kept to recognise Slack's retries


class Verifier(Protocol):
    """slack-sdk's `SignatureVerifier`, as used here."""

    def is_valid(self, body: str | bytes, timestamp: str | None, signature: str | None) -> bool: ...


class SlackEndpoint:
    """The ASGI app that receives Slack's Events API and interactivity requests; the same URL
    serves both (Slack's "Request URL" of Event Subscriptions and of Interactivity)."""

    def __init__(self, receiver: Receiver, verifier: Verifier) -> None:
        self._receiver = receiver
        self._verifier = verifier
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        response = await self._answer(Request(scope, receive))
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        if request.method != "POST":
            return PlainTextResponse("Slack posts here", status_code=405, headers={"Allow": "POST"})
        body = await _body(request)
        if body is None:
            return PlainTextResponse("request too large", status_code=413)
        if not self._signed(body, request):
            return PlainTextResponse("invalid signature", status_code=401)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            return await self._interaction(body)
        try:
            envelope = orjson.loads(body)
        except orjson.JSONDecodeError:
            return PlainTextResponse("expected JSON", status_code=400)
        if not isinstance(envelope, dict):
            return PlainTextResponse("expected a JSON object", status_code=400)
        data: dict[str, Any] = envelope
        if data.get("type") == "url_verification":
            return JSONResponse({"challenge": str(data.get("challenge", ""))})
        if data.get("type") != "event_callback":
            return Response(status_code=200)
        event_id = data.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            return PlainTextResponse("an event callback needs an event_id", status_code=400)
        return await self._dispatch(
            event_id,
            lambda deadline: callback_events(data, self._receiver, deadline),
            retry=request.headers.get("x-slack-retry-num"),
        )

    def _signed(self, body: bytes, request: Request) -> bool:
        timestamp = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        if not timestamp or not signature or not timestamp.strip().isdigit():
            return False
        try:
            return self._verifier.is_valid(body, timestamp, signature)
        except (ValueError, UnicodeDecodeError):
            return False

    async def _interaction(self, body: bytes) -> Response:
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            return PlainTextResponse("expected UTF-8", status_code=400)
        raw = form.get("payload")
        if not raw:
            return Response(status_code=200)  # a slash command or an SSL check: not for bots
        try:
            payload = orjson.loads(raw[0])
        except orjson.JSONDecodeError:
            return PlainTextResponse("expected a JSON payload", status_code=400)
        if not isinstance(payload, dict):
            return PlainTextResponse("expected a JSON payload", status_code=400)
        data: dict[str, Any] = payload
        trigger = data.get("trigger_id")
        key = f"interaction:{trigger}" if isinstance(trigger, str) and trigger else None
        return await self._dispatch(
            key, lambda deadline: interaction_events(data, self._receiver, deadline), retry=None
        )

    async def _dispatch(
        self,
        key: str | None,
        parse: Callable[[float], Awaitable[list[ChatEvent]]],
        *,
        retry: str | None,
    ) -> Response:
        sink = self._receiver.sink
        if sink is None:
            # Not started (or stopping): Slack delivers the event again later.
            return PlainTextResponse("the bot is not running", status_code=503)
        if key is not None and key in self._seen:
            logger.debug("Slack delivered an event again (retry %s): already taken", retry)
            return Response(status_code=200)
        if key is not None:
            self._remember(key)
        deadline = asyncio.get_running_loop().time() + ACK_BUDGET
        try:
            events = await parse(deadline)
        except Exception as exc:
            if key is not None:
                self._seen.pop(key, None)  # let Slack's retry try again
            logger.warning("a Slack event could not be read: %s", type(exc).__name__)
            return PlainTextResponse("the event could not be read", status_code=500)
        if events and self._receiver.sink is None:  # stopped meanwhile: Slack tries again
            if key is not None:
                self._seen.pop(key, None)
            return PlainTextResponse("the bot is not running", status_code=503)
        for event in events:
            sink.submit(event)
        return Response(status_code=200)

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)


async def _body(request: Request) -> bytes | None:
    """The request's body, None past `MAX_BODY` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
