"""`Slack`: the bot in a Slack workspace, through the official SDK (`slack-sdk`'s
`AsyncWebClient`) for what it does and an ASGI endpoint for what Slack sends it (Events API
callbacks and button clicks), each request's signature verified first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from threadline.types import ConfigurationError, InvalidInputError

from ._adapter import Adapter, EventSink
from ._slack_events import Receiver
from ._slack_format import (
    TEXT_LIMIT,
    conversation_key,
    emoji_name,
    mentioned_users,
    mentions,
    message_conversation,
    render,
    split_conversation,
    to_plain,
)
from ._slack_webhook import SlackEndpoint
from ._types import CAPABILITIES, Capability, FileUpload, Message, MessageRef, User
from ._ui import Card

if TYPE_CHECKING:
    from aiohttp import ClientSession
    from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger("threadline.bots")

_EXTRA = "pip install 'threadline[slack]'"
_USERS_KEPT = 2000
_USER_TTL = 3600.0
_PAGE = 200
_MAX_PAGES = 20
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Messages that are something someone said (not joins, topic changes or thread notices).
_SPOKEN = frozenset({"", "thread_broadcast", "file_share", "me_message", "bot_message"})


class Slack(Adapter):
    """A Slack app for a `Bot`: it posts with the app's bot token and receives Slack's events
    and button clicks on an ASGI endpoint (`asgi()`) that verifies each request's signature.

        slack = tl.bots.Slack(os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_SIGNING_SECRET"])
        bot = tl.Bot(app, adapters=[slack])
        async with app, bot:
            await uvicorn.Server(uvicorn.Config(slack.asgi(), port=3000)).serve()

    In the app's settings, point both Event Subscriptions (events `app_mention`, and
    `message.channels` / `message.im` for subscribed conversations and direct messages) and
    Interactivity at the endpoint's URL. A mention at the top of a channel starts a thread:
    its conversation key is `CHANNEL/TS` (the mention's ts); a direct message's is the
    channel. The bot token needs `chat:write`, `reactions:write`, `files:write`,
    `channels:history` (and `groups:` / `im:history`), `users:read` and `users:read.email`.

    Args:
        token: the bot token (`xoxb-...`).
        signing_secret: the app's signing secret; requests it did not sign, or signed more
            than five minutes ago, are refused with 401.
        base_url: Slack's Web API (another one for GovSlack, or a local server in tests).
        max_retries: how often a rate-limited call (HTTP 429) is tried again, after the
            `Retry-After` Slack gives; `max_retry_wait`: the longest such wait (seconds).
        timeout: seconds one Web API call may take.

    Raises `ConfigurationError` without `slack-sdk` (`pip install 'threadline[slack]'`) or
    for an empty token or secret; `start` raises it when Slack refuses the token.
    """

    platform = "slack"
    capabilities: frozenset[Capability] = CAPABILITIES
    max_message_length = TEXT_LIMIT

    def __init__(
        self,
        token: str,
        signing_secret: str,
        *,
        base_url: str = "https://slack.com/api/",
        max_retries: int = 3,
        max_retry_wait: float = 60.0,
        timeout: float = 30.0,
    ) -> None:
        try:
            from slack_sdk.signature import SignatureVerifier

            from ._slack_client import web_client
        except ImportError as exc:  # aiohttp, which AsyncWebClient needs, is part of the extra
            raise ConfigurationError(
                f"tl.bots.Slack needs the 'slack' extra (slack-sdk and aiohttp): {_EXTRA}"
            ) from exc
        if not isinstance(token, str) or not token.strip() or any(c.isspace() for c in token):
            raise ConfigurationError("tl.bots.Slack needs the app's bot token (xoxb-...)")
        if not isinstance(signing_secret, str) or not signing_secret.strip():
            raise ConfigurationError("tl.bots.Slack needs the app's signing secret")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError("max_retries must be a whole number >= 0")
        if max_retry_wait < 0 or timeout <= 0:
            raise ConfigurationError("max_retry_wait must be >= 0 and timeout > 0")
        self.client: AsyncWebClient = web_client(
            token,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        self.user_id = ""
        self.bot_id = ""
        self._endpoint = SlackEndpoint(self._receiver(), SignatureVerifier(signing_secret))
        self._sink: EventSink | None = None
        self._session: ClientSession | None = None
        self._users: OrderedDict[str, tuple[float, User]] = OrderedDict()

    def __repr__(self) -> str:
        return f"Slack(user_id={self.user_id!r})"

    def asgi(self) -> SlackEndpoint:
        """The ASGI app that Slack's requests go to: serve it (`uvicorn`), or mount it in an
        app (`starlette.routing.Route("/slack/events", slack.asgi())`). Until the bot is
        started it answers 503, so Slack delivers again later."""
        return self._endpoint

    @property
    def sink(self) -> EventSink | None:
        return self._sink

    # -- the protocol ----------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        from aiohttp import ClientSession, ClientTimeout
        from slack_sdk.errors import SlackApiError

        # The SDK applies its timeout only to sessions it makes itself.
        self._session = ClientSession(timeout=ClientTimeout(total=self.client.timeout))
        self.client.session = self._session
        try:
            identity = await self.client.auth_test()
        except SlackApiError as exc:
            await self._close_session()
            raise ConfigurationError(f"Slack refused the bot token ({_error_code(exc)})") from None
        except BaseException:
            await self._close_session()
            raise
        self.user_id = str(identity.get("user_id") or "")
        self.bot_id = str(identity.get("bot_id") or "")
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None
        await self._close_session()

    async def post(
        self, conversation: str, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        channel, thread_ts = split_conversation(conversation)
        shown = render(card, actions)
        response = await self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=shown.text, blocks=shown.blocks
        )
        return MessageRef(
            platform=self.platform, conversation=conversation, message_id=str(response["ts"])
        )

    async def update(
        self, ref: MessageRef, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        channel, _ = split_conversation(ref.conversation)
        shown = render(card, actions)
        # An empty list removes the blocks the message had (a card's buttons, say).
        await self.client.chat_update(
            channel=channel, ts=ref.message_id, text=shown.text, blocks=shown.blocks or []
        )
        return ref

    async def delete(self, ref: MessageRef) -> None:
        from slack_sdk.errors import SlackApiError

        channel, _ = split_conversation(ref.conversation)
        try:
            await self.client.chat_delete(channel=channel, ts=ref.message_id)
        except SlackApiError as exc:
            if _error_code(exc) != "message_not_found":  # deleted already
                raise

    async def add_reaction(self, ref: MessageRef, emoji: str) -> None:
        from slack_sdk.errors import SlackApiError

        channel, _ = split_conversation(ref.conversation)
        try:
            await self.client.reactions_add(
                channel=channel, timestamp=ref.message_id, name=emoji_name(emoji)
            )
        except SlackApiError as exc:
            if _error_code(exc) != "already_reacted":
                raise

    async def history(self, conversation: str, limit: int) -> list[Message]:
        channel, thread_ts = split_conversation(conversation)
        if thread_ts is not None:
            raw = await self._replies(channel, thread_ts, limit)
        else:
            raw = await self._channel_history(channel, limit)
        raw = [m for m in raw if str(m.get("subtype") or "") in _SPOKEN and m.get("ts")]
        ids: set[str] = set()
        for message in raw:
            ids |= mentioned_users(str(message.get("text") or ""))
            if isinstance(message.get("user"), str):
                ids.add(message["user"])
        names = await self.names(ids)
        return [self._history_message(channel, conversation, m, names) for m in raw]

    async def lookup_user(self, query: str) -> User | None:
        from slack_sdk.errors import SlackApiError

        wanted = query.strip().removeprefix("@")
        try:
            if _USER_ID.fullmatch(wanted):
                return await self._fetch_user(wanted)
            if _EMAIL.fullmatch(wanted):
                found = await self.client.users_lookupByEmail(email=wanted)
                return self._cache(_user(found["user"]))
        except SlackApiError as exc:
            if _error_code(exc) in ("user_not_found", "users_not_found"):
                return None
            raise
        lowered = wanted.lower()
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self.client.users_list(limit=_PAGE, cursor=cursor)
            for member in page.get("members") or []:
                if not isinstance(member, dict) or member.get("deleted"):
                    continue
                profile: dict[str, Any] = member.get("profile") or {}
                handles = (
                    member.get("name"),
                    profile.get("display_name"),
                    profile.get("real_name"),
                )
                if any(isinstance(h, str) and h.lower() == lowered for h in handles):
                    return self._cache(_user(member))
            cursor = _next_cursor(page)
            if not cursor:
                break
        return None

    async def upload(self, conversation: str, file: FileUpload) -> str:
        channel, thread_ts = split_conversation(conversation)
        response = await self.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            file=file.data,
            filename=file.filename,
            title=file.title or file.filename,
            alt_txt=file.alt_text,
        )
        uploaded = response.get("file") or (response.get("files") or [{}])[0]
        return str(uploaded["id"])

    # -- people and threads (for the endpoint too) ------------------------------------------

    async def user(
        self, user_id: str, *, deadline: float | None = None, fallback: str | None = None
    ) -> User:
        """The Slack user `user_id` (cached); if Slack cannot say by `deadline` (loop time),
        a `User` named `fallback` or the id."""
        cached = self._cached(user_id)
        if cached is not None:
            return cached
        try:
            async with asyncio.timeout_at(deadline):
                found = await self._fetch_user(user_id)
        except Exception as exc:  # a name is a nicety: the event still counts without it
            logger.warning("could not look up a Slack user: %s", type(exc).__name__)
            found = None
        return found or User(id=user_id, name=fallback or user_id)

    async def names(
        self, user_ids: Iterable[str], *, deadline: float | None = None
    ) -> dict[str, str]:
        """Display names by user id, for the ids Slack can name by `deadline`."""
        return {u: (await self.user(u, deadline=deadline)).name for u in sorted(set(user_ids))}

    async def conversation_of(self, channel: str, ts: str, *, deadline: float | None = None) -> str:
        """The conversation key of the message `ts` of `channel` (its thread's, if it is a
        reply); the channel if Slack cannot say by `deadline`."""
        try:
            async with asyncio.timeout_at(deadline):
                found = await self.client.conversations_replies(channel=channel, ts=ts, limit=1)
        except Exception as exc:
            logger.warning("could not find a Slack message's thread: %s", type(exc).__name__)
            return channel
        messages = [m for m in found.get("messages") or [] if isinstance(m, dict)]
        if not messages:
            return channel
        for message in messages:
            if message.get("ts") == ts:
                return message_conversation(channel, message)
        # Slack answered with the root of the thread the message replies in.
        root = messages[0]
        return conversation_key(channel, str(root.get("thread_ts") or root.get("ts")))

    # -- helpers ---------------------------------------------------------------------------

    def _receiver(self) -> Receiver:
        return self

    async def _fetch_user(self, user_id: str) -> User | None:
        from slack_sdk.errors import SlackApiError

        try:
            found = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            if _error_code(exc) == "user_not_found":
                return None
            raise
        return self._cache(_user(found["user"]))

    def _cached(self, user_id: str) -> User | None:
        entry = self._users.get(user_id)
        if entry is None or time.monotonic() - entry[0] > _USER_TTL:
            return None
        return entry[1]

    def _cache(self, user: User) -> User:
        self._users[user.id] = (time.monotonic(), user)
        self._users.move_to_end(user.id)
        while len(self._users) > _USERS_KEPT:
            self._users.popitem(last=False)
        return user

    async def _replies(self, channel: str, thread_ts: str, limit: int) -> list[dict[str, Any]]:
        """The thread's newest `limit` messages, oldest first (Slack pages from the oldest)."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            page = await self.client.conversations_replies(
                channel=channel, ts=thread_ts, limit=_PAGE, cursor=cursor
            )
            messages.extend(m for m in page.get("messages") or [] if isinstance(m, dict))
            messages = messages[-limit:]
            cursor = _next_cursor(page)
            if not cursor:
                break
        return messages

    async def _channel_history(self, channel: str, limit: int) -> list[dict[str, Any]]:
        """The channel's newest `limit` messages, oldest first (Slack pages from the newest)."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        while len(messages) < limit:
            page = await self.client.conversations_history(
                channel=channel, limit=min(_PAGE, limit - len(messages)), cursor=cursor
            )
            messages.extend(m for m in page.get("messages") or [] if isinstance(m, dict))
            cursor = _next_cursor(page)
            if not cursor:
                break
        return list(reversed(messages[:limit]))

    def _history_message(
        self, channel: str, conversation: str, raw: dict[str, Any], names: dict[str, str]
    ) -> Message:
        ts = str(raw["ts"])
        text = str(raw.get("text") or "")
        user_id = raw.get("user")
        if isinstance(user_id, str) and user_id:
            user = User(
                id=user_id,
                name=names.get(user_id, user_id),
                is_bot=bool(raw.get("bot_id")),
            )
        else:
            bot = str(raw.get("bot_id") or "unknown")
            user = User(id=bot, name=str(raw.get("username") or bot), is_bot=True)
        return Message(
            event_id=f"{channel}:{ts}",
            message_id=ts,
            conversation=conversation,
            user=user,
            text=to_plain(text, names=names, bot_user_id=self.user_id),
            mentioned=mentions(text, self.user_id),
            timestamp=float(ts) if ts.replace(".", "", 1).isdigit() else 0.0,
        )

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        self.client.session = None
        if session is not None:
            with contextlib.suppress(Exception):
                await session.close()


def _user(data: Any) -> User:
    if not isinstance(data, dict):
        raise InvalidInputError("Slack answered without a user")
    profile: dict[str, Any] = data.get("profile") or {}
    name = next(
        (
            n
            for n in (profile.get("display_name"), profile.get("real_name"), data.get("real_name"))
            if isinstance(n, str) and n.strip()
        ),
        str(data.get("name") or data.get("id")),
    )
    return User(id=str(data["id"]), name=name, is_bot=bool(data.get("is_bot")))


def _next_cursor(page: Any) -> str | None:
    metadata = page.get("response_metadata") or {}
    cursor = metadata.get("next_cursor") if isinstance(metadata, dict) else None
    return cursor if isinstance(cursor, str) and cursor else None


def _error_code(exc: Any) -> str:
    response = getattr(exc, "response", None)
    try:
        code = response.get("error") if response is not None else None
    except Exception:
        code = None
    return str(code or "error")
