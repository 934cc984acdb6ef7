"""A local stand-in for Slack's Web API (the methods the Slack adapter calls), answering with
Slack's documented response shapes and errors, served by uvicorn on 127.0.0.1 so that the
official SDK talks to it unchanged; and Slack's side of webhooks: signed event deliveries."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from threadline.testing import eventually

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
CHANNEL = "C0GENERAL"

JSON = dict[str, Any]


@dataclass
class Call:
    method: str
    args: JSON
    at: float


@dataclass
class SlackAPI:
    """What the fake workspace holds, and every call made to it (`calls`)."""

    users: dict[str, JSON] = field(default_factory=dict[str, JSON])
    messages: dict[str, list[JSON]] = field(default_factory=dict[str, list[JSON]])
    files: dict[str, JSON] = field(default_factory=dict[str, JSON])
    calls: list[Call] = field(default_factory=list[Call])
    # method -> responses to give before answering normally: an error code, or 429 (seconds)
    failures: dict[str, list[str | int]] = field(default_factory=dict[str, list[str | int]])
    url: str = ""
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_user(
        self, user_id: str, name: str, display_name: str, *, email: str | None = None
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": "T0TEAM",
            "name": name,
            "deleted": False,
            "real_name": display_name,
            "is_bot": False,
            "profile": {
                "display_name": display_name,
                "real_name": display_name,
                "email": email,
            },
        }

    def new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def say(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> JSON:
        """A person's message, as Slack stores it; returns it."""
        message: JSON = {"type": "message", "user": user, "text": text, "ts": self.new_ts()}
        if thread_ts:
            message["thread_ts"] = thread_ts
            root = self.find(channel, thread_ts)
            if root is not None:
                root["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(message)
        return message

    def find(self, channel: str, ts: str) -> JSON | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def called(self, method: str) -> list[JSON]:
        return [c.args for c in self.calls if c.method == method]

    def bot_messages(self, channel: str = CHANNEL, thread_ts: str | None = None) -> list[JSON]:
        return [
            m
            for m in self.messages.get(channel, [])
            if m.get("bot_id") == BOT_ID and (thread_ts is None or m.get("thread_ts") == thread_ts)
        ]

    # -- the Web API ---------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await _arguments(request)
        self.calls.append(Call(method, args, time.monotonic()))
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(
                "not_authed" if "authorization" not in request.headers else "invalid_auth"
            )
        planned = self.failures.get(method)
        if planned:
            failure = planned.pop(0)
            if isinstance(failure, int):
                return JSONResponse(
                    {"ok": False, "error": "ratelimited"},
                    status_code=429,
                    headers={"Retry-After": str(failure)},
                )
            return _error(failure)
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return _error("unknown_method")
        result: JSON | Response = answer(args)
        if isinstance(result, Response):
            return result
        return JSONResponse({"ok": True, **result})

    def _auth_test(self, args: JSON) -> JSON:
        return {
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "helper",
            "team_id": "T0TEAM",
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def _chat_postMessage(self, args: JSON) -> JSON | Response:
        channel = args.get("channel")
        text, blocks = args.get("text"), args.get("blocks")
        if not channel:
            return _error("channel_not_found")
        if not text and not blocks:
            return _error("no_text")
        if text and len(text) > 40000:
            return _error("msg_too_long")
        if problem := _block_problem(blocks):
            return _error(problem)
        message: JSON = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": text or "",
            "ts": self.new_ts(),
        }
        if blocks:
            message["blocks"] = blocks
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"channel": channel, "ts": message["ts"], "message": message}

    def _chat_update(self, args: JSON) -> JSON | Response:
        message = self.find(args.get("channel", ""), args.get("ts", ""))
        if message is None:
            return _error("message_not_found")
        if message.get("bot_id") != BOT_ID:
            return _error("cant_update_message")
        text, blocks = args.get("text"), args.get("blocks")
        if text and len(text) > 4000:
            return _error("msg_too_long")  # chat.update's documented limit
        if problem := _block_problem(blocks):
            return _error(problem)
        message.setdefault("edits", []).append(message["text"])
        if text is not None:
            message["text"] = text
        if blocks is not None:  # left out: the message keeps its blocks
            if blocks:
                message["blocks"] = blocks
            else:
                message.pop("blocks", None)
        return {"channel": args["channel"], "ts": args["ts"], "text": message["text"]}

    def _chat_delete(self, args: JSON) -> JSON | Response:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        message = self.find(channel, ts)
        if message is None:
            return _error("message_not_found")
        self.messages[channel].remove(message)
        return {"channel": channel, "ts": ts}

    def _reactions_add(self, args: JSON) -> JSON | Response:
        message = self.find(args.get("channel", ""), args.get("timestamp", ""))
        if message is None:
            return _error("message_not_found")
        reactions: dict[str, list[str]] = message.setdefault("reactions_by_name", {})
        users = reactions.setdefault(args["name"], [])
        if BOT_USER in users:
            return _error("already_reacted")
        users.append(BOT_USER)
        return {}

    def _conversations_history(self, args: JSON) -> JSON | Response:
        channel = args.get("channel", "")
        if channel not in self.messages:
            return _error("channel_not_found")
        top = [m for m in self.messages[channel] if m.get("thread_ts") in (None, m["ts"])]
        newest_first = list(reversed(top))
        return _page(newest_first, args, "messages")

    def _conversations_replies(self, args: JSON) -> JSON | Response:
        channel, ts = args.get("channel", ""), args.get("ts", "")
        message = self.find(channel, ts)
        if message is None:
            return _error("thread_not_found")
        root = message.get("thread_ts") or ts
        thread = [
            m for m in self.messages[channel] if m["ts"] == root or m.get("thread_ts") == root
        ]
        return _page(thread, args, "messages")

    def _users_info(self, args: JSON) -> JSON | Response:
        user = self.users.get(args.get("user", ""))
        return {"user": user} if user else _error("user_not_found")

    def _users_lookupByEmail(self, args: JSON) -> JSON | Response:
        email = args.get("email")
        for user in self.users.values():
            if user["profile"].get("email") == email:
                return {"user": user}
        return _error("users_not_found")

    def _users_list(self, args: JSON) -> JSON:
        return _page(list(self.users.values()), args, "members")

    def _files_getUploadURLExternal(self, args: JSON) -> JSON | Response:
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return _error("invalid_arguments")
        file_id = f"F{len(self.files) + 1:08d}"
        self.files[file_id] = {
            "id": file_id,
            "name": args["filename"],
            "length": int(args["length"]),
            "alt_txt": args.get("alt_txt"),
            "data": None,
        }
        return {"upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, args: JSON) -> JSON | Response:
        files = json.loads(args.get("files") or "[]")
        done: list[JSON] = []
        for entry in files:
            stored = self.files.get(entry.get("id"))
            if stored is None or stored["data"] is None:
                return _error("file_not_found")
            stored.update(
                title=entry.get("title"),
                channel=args.get("channel_id"),
                thread_ts=args.get("thread_ts"),
            )
            done.append({"id": stored["id"], "name": stored["name"], "title": entry.get("title")})
        return {"files": done}

    async def upload(self, request: Request) -> Response:
        stored = self.files.get(request.path_params["file_id"])
        if stored is None:
            return PlainTextResponse("not found", status_code=404)
        stored["data"] = await request.body()
        return PlainTextResponse(f"OK - {len(stored['data'])}")


def _error(code: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": code})


def _block_problem(blocks: Any) -> str | None:
    """Block Kit's limits that the adapter must respect (Slack answers `invalid_blocks`)."""
    if blocks is None:
        return None
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        text = block.get("text")
        if isinstance(text, dict) and len(text.get("text", "")) > 3000:
            return "invalid_blocks"
        if block.get("type") == "actions":
            ids = [e["action_id"] for e in block["elements"]]
            if len(ids) != len(set(ids)) or len(ids) > 25:
                return "invalid_blocks"
    return None


def _page(items: list[JSON], args: JSON, key: str) -> JSON:
    limit = int(args.get("limit") or 100)
    start = int(args.get("cursor") or 0)
    chunk = items[start : start + limit]
    after = start + limit
    cursor = str(after) if after < len(items) else ""
    return {key: chunk, "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}


async def _arguments(request: Request) -> JSON:
    args: JSON = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if body and content_type.startswith("application/json"):
        args.update(json.loads(body))
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        args.update(parse_qsl(body.decode()))
    return args


class LocalServer:
    """An ASGI app served by uvicorn on 127.0.0.1 (a free port) in the test's event loop."""

    def __init__(self, app: Any) -> None:
        # uvicorn binds the port itself: on a socket handed to it, each request on a kept-alive
        # connection waits ~40 ms (no TCP_NODELAY), which a test of streamed edits feels.
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        server = self._server
        await eventually(lambda: server.started, within=10)
        port = server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


class SlackServer(LocalServer):
    """`SlackAPI`, Slack's Web API at `base_url`."""

    def __init__(self) -> None:
        self.api = SlackAPI()
        super().__init__(
            Starlette(
                routes=[
                    Route("/api/{method}", self.api.handle, methods=["GET", "POST"]),
                    Route("/upload/v1/{file_id}", self.api.upload, methods=["POST"]),
                ]
            )
        )

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    async def start(self) -> None:
        await super().start()
        self.api.url = self.url


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's v0 signature of `body`: HMAC-SHA256 over `v0:TIMESTAMP:BODY`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


class Slack:
    """Slack's side of the webhooks: it delivers events and clicks to the endpoint, signed."""

    def __init__(self, endpoint_url: str, client: httpx.AsyncClient) -> None:
        self.url = endpoint_url
        self._client = client
        self._events = itertools.count(1)

    async def post_event(
        self, event: JSON, *, event_id: str | None = None, retry: int | None = None
    ) -> tuple[httpx.Response, str]:
        """Deliver an Events API callback; returns the response and the event id."""
        event_id = event_id or f"Ev{next(self._events):08d}"
        envelope = {
            "token": "deprecated-verification-token",
            "team_id": "T0TEAM",
            "api_app_id": "A0APP",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
        body = json.dumps(envelope).encode()
        headers = {"Content-Type": "application/json", **signed_headers(body)}
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self._client.post(self.url, content=body, headers=headers), event_id

    async def click(
        self, message: JSON, action_id: str, user: JSON, channel: str
    ) -> httpx.Response:
        """A block_actions payload for a click on `message`'s button `action_id`."""
        payload = {
            "type": "block_actions",
            "user": user,
            "api_app_id": "A0APP",
            "token": "deprecated-verification-token",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"{next(self._events)}.trigger",
            "team": {"id": "T0TEAM", "domain": "test"},
            "channel": {"id": channel, "name": "general"},
            "message": message,
            "response_url": "https://hooks.slack.com/actions/T0TEAM/1/x",
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b1",
                    "text": {"type": "plain_text", "text": "x"},
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)}
        return await self._client.post(self.url, content=body, headers=headers)
