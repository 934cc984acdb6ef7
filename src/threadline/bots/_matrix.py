"""`Matrix`: the bot on a Matrix homeserver, through `matrix-nio` (the optional extra
`threadline[matrix]`). Everything but buttons: number reactions stand in for them."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import re
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.types import ConfigurationError

from ._adapter import Adapter, EventSink
from ._matrix_api import RATE_LIMIT_RETRIES, MatrixAPI, MatrixRequestError
from ._matrix_content import (
    card_content,
    edit_content,
    file_content,
    file_mimetype,
    in_thread,
    reaction_content,
)
from ._matrix_events import (
    BotAccount,
    after_joining,
    conversation_key,
    message_from,
    parse_conversation,
    reaction_from,
    thread_root,
)
from ._matrix_sync import SyncPosition
from ._types import Capability, ChatEvent, FileUpload, Message, MessageRef, ReactionEvent, User
from ._ui import Card

if TYPE_CHECKING:
    from nio import AsyncClient, SyncResponse

logger = logging.getLogger("threadline.bots")

_USER_ID = re.compile(r"@[^:\s]+:\S+")
_RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
_TIMELINE_LIMIT = 50  # events per room and sync; older ones are paged in (`_backfill`)
_BACKFILL_PAGES = 10
_CONVERSATIONS_KEPT = 2048


def _require_nio() -> None:
    # nio is imported where it is used: only a bot on Matrix pays for loading it.
    try:
        import nio  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise ConfigurationError(
            "tl.bots.Matrix needs matrix-nio: pip install 'threadline[matrix]'"
        ) from None


class Matrix(Adapter):
    """A Matrix account for a `Bot` (through `matrix-nio`: `pip install 'threadline[matrix]'`).

        tl.bots.Matrix("https://matrix.example.org", "@helper:example.org", token,
                       sync_token_path="helper.sync.json")

    A mention (`m.mentions`, or the bot's name or id in the text) at the top of a room
    starts a thread rooted at it: that thread is the conversation (`!room/$root`), and every
    message in it belongs to it. In a direct room (the bot and one person) every message
    speaks to the bot and the room is the conversation. Answers are edited in place
    (`m.replace`) as they stream; choices are numbered and answered with the number's
    reaction (1️⃣, 2️⃣, ...) or a reply with the number; text is sent as HTML with anything
    the model wrote escaped. Encrypted rooms are not supported (their messages are skipped).

    The events are received with `/sync`. Where each sync stands is saved in the file
    `sync_token_path` once the events before it are handled, so a bot that restarts
    continues there, and receives again what it had not finished (its turns' client keys
    make that safe). Without a file (or on the very first start) the bot begins with what
    happens after it starts: it never answers old messages.

    Args:
        homeserver: the homeserver's URL (`https://...`).
        user_id: the bot's user id (`@name:server`); its access token must belong to it.
        access_token: the bot's access token (never logged nor shown).
        sync_token_path: the file that keeps the sync position (one per account).
        rooms: rooms to join at start (ids or aliases).
        join_on_invite: accept invitations to rooms (from `inviters` only, when given).
        inviters: user ids whose invitations are accepted; default: anyone's.
        poll_timeout: seconds a sync waits for new events.
        request_timeout: seconds any other request may take.

    Raises `ConfigurationError` for a malformed URL or user id, at `start` for a token the
    homeserver refuses or that belongs to another user, and for a room that cannot be joined.
    """

    platform = "matrix"
    capabilities: frozenset[Capability] = frozenset(
        ("edit", "delete", "reactions", "history", "files", "lookup_user", "markdown", "images")
    )
    # Matrix caps an event at 64 KiB; an edit holds its text three times, HTML included.
    max_message_length = 4000

    def __init__(
        self,
        homeserver: str,
        user_id: str,
        access_token: str,
        *,
        sync_token_path: str | os.PathLike[str] | None = None,
        rooms: Sequence[str] = (),
        join_on_invite: bool = True,
        inviters: Sequence[str] | None = None,
        poll_timeout: float = 30.0,
        request_timeout: float = 60.0,
    ) -> None:
        if not isinstance(homeserver, str) or not homeserver.startswith(("https://", "http://")):
            raise ConfigurationError("a Matrix homeserver is an http(s):// URL")
        if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
            raise ConfigurationError(f"{user_id!r} is not a Matrix user id (@name:server)")
        if not isinstance(access_token, str) or not re.fullmatch(r"[!-~]+", access_token):
            raise ConfigurationError("a Matrix access token is a non-empty printable string")
        if isinstance(rooms, str) or not all(
            isinstance(r, str) and r[:1] in ("!", "#") for r in rooms
        ):
            raise ConfigurationError("rooms is a list of room ids (!...) or aliases (#...)")
        if inviters is not None and (
            isinstance(inviters, str) or not all(_USER_ID.fullmatch(str(i)) for i in inviters)
        ):
            raise ConfigurationError("inviters is a list of Matrix user ids")
        if poll_timeout <= 0 or request_timeout <= 0:
            raise ConfigurationError("poll_timeout and request_timeout must be positive")
        _require_nio()
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.rooms = tuple(rooms)
        self.join_on_invite = join_on_invite
        self.inviters = None if inviters is None else frozenset(inviters)
        self._access_token = access_token
        self._poll_timeout = poll_timeout
        self._request_timeout = request_timeout
        path = None if sync_token_path is None else Path(sync_token_path)
        self._position = SyncPosition(path, user_id)
        self._me = BotAccount(user_id=user_id, display_name=None)
        self._client: AsyncClient | None = None
        self._sink: EventSink | None = None
        self._since: str | None = None
        self._syncing: asyncio.Task[None] | None = None
        self._conversations: OrderedDict[str, str] = OrderedDict()  # event id -> conversation
        self._encrypted_warned: set[str] = set()

    def __repr__(self) -> str:
        return f"Matrix({self.homeserver!r}, {self.user_id!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        import nio

        self._sink = sink
        config = nio.AsyncClientConfig(
            encryption_enabled=False,
            store_sync_tokens=False,
            max_limit_exceeded=RATE_LIMIT_RETRIES,
            max_timeouts=2,
            request_timeout=self._request_timeout,
        )
        client = nio.AsyncClient(self.homeserver, self.user_id, config=config)
        client.access_token = self._access_token
        self._client = client
        try:
            who = await client.whoami()
            if not isinstance(who, nio.WhoamiResponse):
                raise ConfigurationError(
                    f"the Matrix homeserver refused the bot's access token ({_errcode(who)})"
                )
            if who.user_id != self.user_id:
                raise ConfigurationError(
                    f"the access token belongs to {who.user_id}, not to {self.user_id}"
                )
            client.device_id = who.device_id or ""
            name = await client.get_displayname(self.user_id)
            self._me = BotAccount(
                user_id=self.user_id, display_name=getattr(name, "displayname", None)
            )
            for room in self.rooms:
                joined = await client.join(room)
                if not isinstance(joined, nio.JoinResponse):
                    raise ConfigurationError(f"could not join {room}: {_errcode(joined)}")
            since = self._since = self._position.load()
            first = await self._sync(since, wait=0, full_state=True)
            await self._process(first, deliver=since is not None)
            if since is None:
                await self._catch_up()
            self._position.start()
            self._syncing = asyncio.get_running_loop().create_task(self._sync_forever())
        except BaseException:
            await self._disconnect()
            raise

    async def stop(self) -> None:
        syncing, self._syncing = self._syncing, None
        if syncing is not None:
            syncing.cancel()
            await asyncio.wait([syncing])
        await self._position.close()
        await self._disconnect()

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def _connected(self) -> AsyncClient:
        if self._client is None:
            raise ConnectionError("the Matrix adapter is not connected")
        return self._client

    def _api(self) -> MatrixAPI:
        return MatrixAPI(self._connected(), self._access_token)

    # -- outgoing --------------------------------------------------------------------------

    async def post(
        self, conversation: str, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        return await self._post(conversation, card, uuid.uuid4().hex)

    async def post_once(
        self, conversation: str, card: Card, key: str, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        # The homeserver answers a repeated transaction id of the device with the event it
        # made the first time (for a day, in Synapse), not with a second one.
        return await self._post(conversation, card, _transaction_id(conversation, key))

    async def _post(self, conversation: str, card: Card, transaction_id: str) -> MessageRef:
        room_id, root = parse_conversation(conversation)
        content = in_thread(card_content(card), root)
        event_id = await self._send(room_id, "m.room.message", content, transaction_id)
        self._remember(event_id, conversation)
        return MessageRef(platform=self.platform, conversation=conversation, message_id=event_id)

    async def update(
        self, ref: MessageRef, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        room_id, _ = parse_conversation(ref.conversation)
        await self._send(
            room_id, "m.room.message", edit_content(ref.message_id, card_content(card))
        )
        return ref  # edits always name the original event

    async def delete(self, ref: MessageRef) -> None:
        from nio import RoomRedactResponse

        room_id, _ = parse_conversation(ref.conversation)
        response = await self._connected().room_redact(room_id, ref.message_id)
        if not isinstance(response, RoomRedactResponse):
            raise _refused("delete a message", response)

    async def add_reaction(self, ref: MessageRef, emoji: str) -> None:
        room_id, _ = parse_conversation(ref.conversation)
        # One reaction of a key per message and sender: sent again after a crash, the same
        # transaction gets the same event.
        transaction_id = _transaction_id(ref.message_id, f"reaction:{emoji}")
        await self._send(
            room_id, "m.reaction", reaction_content(ref.message_id, emoji), transaction_id
        )

    async def upload(self, conversation: str, file: FileUpload) -> str:
        from nio import UploadResponse

        room_id, root = parse_conversation(conversation)
        mimetype = file_mimetype(file.filename)
        response, _ = await self._connected().upload(
            io.BytesIO(file.data),
            content_type=mimetype,
            filename=file.filename,
            filesize=len(file.data),
        )
        if not isinstance(response, UploadResponse):
            raise _refused("take the file", response)
        url = str(response.content_uri)
        event_id = await self._send(
            room_id, "m.room.message", in_thread(file_content(file, url, mimetype), root)
        )
        self._remember(event_id, conversation)
        return url

    async def _send(
        self,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        transaction_id: str | None = None,
    ) -> str:
        from nio import RoomSendResponse

        response = await self._connected().room_send(
            room_id, event_type, content, tx_id=transaction_id or uuid.uuid4().hex
        )
        if not isinstance(response, RoomSendResponse):
            raise _refused("send a message", response)
        return str(response.event_id)

    def _remember(self, event_id: str, conversation: str) -> None:
        self._conversations[event_id] = conversation
        while len(self._conversations) > _CONVERSATIONS_KEPT:
            self._conversations.popitem(last=False)

    # -- reading ---------------------------------------------------------------------------

    async def history(self, conversation: str, limit: int) -> list[Message]:
        room_id, root = parse_conversation(conversation)
        events: Sequence[Mapping[str, Any]]
        if root is not None:
            events = await self._api().thread(room_id, root, limit)
        else:
            events = await self._room_events(room_id, limit)
        messages: list[Message] = []
        for event in events:
            message = self._message(room_id, event, incoming=False)
            if message is not None:
                messages.append(replace(message, conversation=conversation))
        return messages[-limit:]

    async def _room_events(self, room_id: str, limit: int) -> list[Mapping[str, Any]]:
        """The room's newest messages outside threads, oldest first."""
        newest: list[Mapping[str, Any]] = []
        page: str | None = None
        for _ in range(_BACKFILL_PAGES):
            chunk, page = await self._api().messages(room_id, page, messages_only=True)
            for event in chunk:
                outside = thread_root(event.get("content") or {}) is None
                if outside and self._message(room_id, event, incoming=False) is not None:
                    newest.append(event)
            if len(newest) >= limit or page is None:
                break
        return list(reversed(newest[:limit]))

    async def lookup_user(self, query: str) -> User | None:
        wanted = query.strip()
        if _USER_ID.fullmatch(wanted):
            name = await self._api().display_name(wanted)
            return None if name is None else User(id=wanted, name=name or _localpart(wanted))
        term = wanted.lstrip("@").lower()
        for user_id, name in await self._api().search_users(term):
            shown = name or _localpart(user_id)
            if term in (user_id.lower(), _localpart(user_id).lower(), shown.lower()):
                return User(id=user_id, name=shown)
        return None

    # -- incoming --------------------------------------------------------------------------

    async def _sync(
        self, since: str | None, *, wait: float, full_state: bool = False
    ) -> SyncResponse:
        from nio import SyncResponse

        response = await self._connected().sync(
            timeout=int(wait * 1000),
            since=since,
            full_state=full_state,
            sync_filter=_sync_filter(1 if since is None else _TIMELINE_LIMIT),
            set_presence="offline",
        )
        if not isinstance(response, SyncResponse):
            raise _refused("sync", response)
        return response

    async def _catch_up(self) -> None:
        """On the very first start, skip what was said before: sync until nothing is new,
        delivering nothing. (Synapse may answer a first sync from its cache, as things stood
        a minute ago, when the same account asked the same before.)"""
        for _ in range(_BACKFILL_PAGES):
            response = await self._sync(self._since, wait=0)
            await self._process(response, deliver=False)
            if not any(room.timeline.events for room in response.rooms.join.values()):
                return

    async def _sync_forever(self) -> None:
        failures = 0
        while True:
            try:
                response = await self._sync(self._since, wait=self._poll_timeout)
                await self._process(response, deliver=True)
                failures = 0
            except Exception as exc:  # the homeserver went away: try again, less often
                delay = _RETRY_DELAYS[min(failures, len(_RETRY_DELAYS) - 1)]
                failures += 1
                logger.warning("Matrix sync failed (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)

    async def _process(self, response: SyncResponse, *, deliver: bool) -> None:
        """Join the rooms the bot is invited to, and hand the events of `response` to the bot
        (unless `deliver` is False); its token is kept once they are handled."""
        for room_id, invited in response.rooms.invite.items():
            await self._on_invite(room_id, [e.source for e in invited.invite_state])
        handling: list[asyncio.Future[None]] = []
        for room_id, joined in response.rooms.join.items():
            if not deliver:
                continue
            events: list[Mapping[str, Any]] = [e.source for e in joined.timeline.events]
            if joined.timeline.limited and joined.timeline.prev_batch and self._since:
                events = [*await self._backfill(room_id, joined.timeline.prev_batch), *events]
            for event in after_joining(events, self.user_id):
                try:
                    chat_event = await self._incoming(room_id, event)
                except Exception as exc:  # one unreadable event does not stop the others
                    logger.warning("skipped a Matrix event that could not be read: %s", exc)
                    continue
                if chat_event is not None:
                    assert self._sink is not None
                    handling.append(self._sink.submit(chat_event))
        self._since = response.next_batch
        self._position.add(response.next_batch, handling)

    async def _backfill(self, room_id: str, before: str) -> list[Mapping[str, Any]]:
        """The events between the last sync and a sync whose timeline was cut short."""
        older: list[Mapping[str, Any]] = []
        page: str | None = before
        for _ in range(_BACKFILL_PAGES):
            if page is None:
                break
            chunk, page = await self._api().messages(room_id, page, stop=self._since)
            older.extend(chunk)
        return list(reversed(older))

    async def _incoming(self, room_id: str, event: Mapping[str, Any]) -> ChatEvent | None:
        sender, event_id = event.get("sender"), event.get("event_id")
        if sender == self.user_id or not isinstance(sender, str) or not isinstance(event_id, str):
            return None
        if event.get("type") == "m.room.encrypted":
            if room_id not in self._encrypted_warned:
                self._encrypted_warned.add(room_id)
                logger.warning("the Matrix bot cannot read the encrypted room %s", room_id)
            return None
        reaction = reaction_from(event)
        if reaction is None:
            return self._message(room_id, event, incoming=True)
        target, emoji = reaction
        conversation = self._conversations.get(target)
        if conversation is None:
            original = await self._api().event(room_id, target)
            conversation = conversation_key(room_id, thread_root(original.get("content") or {}))
        return ReactionEvent(
            event_id=event_id,
            conversation=conversation,
            message=MessageRef(
                platform=self.platform, conversation=conversation, message_id=target
            ),
            emoji=emoji,
            user=User(id=sender, name=self._name(room_id, sender)),
        )

    def _message(self, room_id: str, event: Mapping[str, Any], *, incoming: bool) -> Message | None:
        return message_from(
            event,
            room_id,
            bot=self._me,
            direct=self._direct(room_id),
            name_of=lambda user_id: self._name(room_id, user_id),
            incoming=incoming,
        )

    async def _on_invite(self, room_id: str, state: list[Mapping[str, Any]]) -> None:
        inviter = next(
            (
                e.get("sender")
                for e in state
                if e.get("type") == "m.room.member" and e.get("state_key") == self.user_id
            ),
            None,
        )
        if not self.join_on_invite or (self.inviters is not None and inviter not in self.inviters):
            return
        from nio import JoinResponse

        joined = await self._connected().join(room_id)
        if not isinstance(joined, JoinResponse):
            logger.warning("could not join %s on invitation: %s", room_id, _errcode(joined))

    def _direct(self, room_id: str) -> bool:
        client = self._client
        room = None if client is None else client.rooms.get(room_id)
        return room is not None and int(room.member_count) <= 2

    def _name(self, room_id: str, user_id: str) -> str:
        client = self._client
        room = None if client is None else client.rooms.get(room_id)
        name = None if room is None else room.user_name(user_id)
        return str(name) if name else _localpart(user_id)


def _sync_filter(timeline_limit: int) -> dict[str, Any]:
    nothing: dict[str, Any] = {"types": []}
    return {
        "presence": nothing,
        "account_data": nothing,
        "room": {
            "timeline": {"limit": timeline_limit},
            "ephemeral": nothing,
            "account_data": nothing,
        },
    }


def _errcode(response: object) -> str:
    """The Matrix error code of nio's error response."""
    errcode = getattr(response, "status_code", None)
    return errcode if isinstance(errcode, str) else "error"


def _refused(what: str, response: object) -> MatrixRequestError:
    return MatrixRequestError(what, None, _errcode(response))


def _localpart(user_id: str) -> str:
    return user_id[1:].split(":", 1)[0]


def _transaction_id(scope: str, key: str) -> str:
    return "tl-" + hashlib.blake2b(f"{scope}\0{key}".encode(), digest_size=16).hexdigest()
