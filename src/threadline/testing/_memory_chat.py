"""`MemoryChat`: a chat platform in memory, for testing bots without a server."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from threadline.bots import (
    CAPABILITIES,
    ActionEvent,
    Adapter,
    Capability,
    Card,
    ChatEvent,
    EventSink,
    FileUpload,
    Message,
    MessageRef,
    ReactionEvent,
    User,
)
from threadline.bots._types import check_capabilities
from threadline.types import ConfigurationError, InvalidInputError, NotFoundError


@dataclass(kw_only=True)
class ChatMessage:
    """A message of a `MemoryChat` conversation, as it stands, with what happened to it."""

    ref: MessageRef
    user: User
    card: Card
    text: str  # as the platform shows it now
    versions: list[str]  # the text as first posted, then after each edit
    timestamp: float
    buttons: list[str] = field(default_factory=list[str])  # labels shown now
    actions: dict[str, str] = field(default_factory=dict[str, str])  # label -> action id, ever
    reactions: dict[str, list[str]] = field(default_factory=dict[str, list[str]])  # emoji -> ids
    deleted: bool = False
    key: str | None = None  # what names it when it was posted once (`Adapter.post_once`)

    @property
    def edits(self) -> int:
        return len(self.versions) - 1


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    file_id: str
    conversation: str
    filename: str
    data: bytes
    title: str | None
    alt_text: str | None


class MemoryChat(Adapter):
    """A chat platform in memory with the capabilities you choose, for tests of a bot.

        chat = MemoryChat(capabilities={"edit", "history"})   # default: every capability
        async with tl.Bot(app, adapters=[chat]) as bot:
            await chat.say("ann", "hello @bot", mention=True)  # returns once handled
            print(chat.last().text, chat.last().edits)

    `say` delivers a message and returns once the bot's handlers are done (their exceptions
    are raised there). What the bot did is in `posted()` (every message it posted, with each
    version of its text, `deleted` marks, and the `key` of what it posts once, as a choice's
    card: posting a key again returns the first message), `messages()` (a conversation as
    people see it) and `files`. `click` presses a button of a card (also one the card no longer shows, as a
    stale click would), `react` adds a reaction.

    Args:
        capabilities: what the platform can do (see `tl.bots.Capability`); default: all.
        platform: the platform's name in thread keys.
        max_message_length: characters one message may hold; longer posts are refused.
        users: the directory `lookup_user` searches (people who spoke are added).
        bot: the bot's own user.
        max_file_bytes: uploads above this are refused (`post_file` reports the error).
    """

    def __init__(
        self,
        capabilities: Iterable[Capability] | None = None,
        *,
        platform: str = "memory",
        max_message_length: int = 4000,
        users: Sequence[User] = (),
        bot: User | None = None,
        max_file_bytes: int = 10 * 1024 * 1024,
    ) -> None:
        chosen = CAPABILITIES if capabilities is None else capabilities
        self.capabilities = check_capabilities(
            chosen if isinstance(chosen, frozenset) else set(chosen), "MemoryChat"
        )
        if max_message_length < 1:
            raise ConfigurationError("max_message_length must be at least 1")
        self.platform = platform
        self.max_message_length = max_message_length
        self.bot_user = bot or User(id="bot", name="Bot", is_bot=True)
        self.user_id = self.bot_user.id
        self.users: dict[str, User] = {u.id: u for u in users}
        self.files: list[UploadedFile] = []
        self.max_file_bytes = max_file_bytes
        self._conversations: dict[str, list[ChatMessage]] = {}
        self._by_id: dict[str, ChatMessage] = {}
        self._ids = itertools.count(1)
        self._sink: EventSink | None = None

    # -- what a test does ------------------------------------------------------------------

    async def say(
        self,
        user: str | User,
        text: str,
        *,
        mention: bool = False,
        conversation: str = "general",
        event_id: str | None = None,
    ) -> Message:
        """`user` says `text` in `conversation` (addressing the bot with `mention`); returns
        the delivered `Message` once the bot has handled it."""
        speaker = self._user(user)
        message_id = f"m{next(self._ids)}"
        card = Card(text)
        self._append(
            ChatMessage(
                ref=MessageRef(
                    platform=self.platform, conversation=conversation, message_id=message_id
                ),
                user=speaker,
                card=card,
                text=text,
                versions=[text],
                timestamp=time.time(),
            )
        )
        message = Message(
            event_id=event_id or f"ev-{message_id}",
            message_id=message_id,
            conversation=conversation,
            user=speaker,
            text=text,
            mentioned=mention,
            timestamp=time.time(),
        )
        await self.deliver(message)
        return message

    async def deliver(self, event: ChatEvent) -> None:
        """Deliver an event as the platform would (again, for a retried webhook)."""
        if self._sink is None:
            raise ConfigurationError("no bot is listening: start the bot first")
        await self._sink.deliver(event)

    async def click(
        self, message: MessageRef | ChatMessage, button: str, *, user: str | User = "ann"
    ) -> None:
        """`user` clicks the button labelled `button` of a card the bot posted."""
        found = self._message(message)
        action = found.actions.get(button)
        if action is None:
            raise InvalidInputError(f"that message has no button {button!r}")
        await self.deliver(
            ActionEvent(
                event_id=f"ev-click-{next(self._ids)}",
                conversation=found.ref.conversation,
                message=found.ref,
                action_id=action,
                user=self._user(user),
            )
        )

    async def react(
        self, message: MessageRef | ChatMessage, emoji: str, *, user: str | User = "ann"
    ) -> None:
        """`user` reacts to a message with `emoji`."""
        if "reactions" not in self.capabilities:
            raise InvalidInputError("this MemoryChat has no reactions")
        found = self._message(message)
        speaker = self._user(user)
        found.reactions.setdefault(emoji, []).append(speaker.id)
        await self.deliver(
            ReactionEvent(
                event_id=f"ev-react-{next(self._ids)}",
                conversation=found.ref.conversation,
                message=found.ref,
                emoji=emoji,
                user=speaker,
            )
        )

    def messages(self, conversation: str = "general") -> list[ChatMessage]:
        """The conversation as people see it: every message not deleted, in order."""
        return [m for m in self._conversations.get(conversation, []) if not m.deleted]

    def posted(self, conversation: str | None = None) -> list[ChatMessage]:
        """Every message the bot posted (in `conversation`, or anywhere), deleted ones too."""
        everything = (
            self._conversations.get(conversation, [])
            if conversation is not None
            else sorted(self._by_id.values(), key=lambda m: int(m.ref.message_id[1:]))
        )
        return [m for m in everything if m.user.id == self.bot_user.id]

    def last(self, conversation: str | None = None) -> ChatMessage:
        """The bot's latest message that is not deleted. Raises `NotFoundError`."""
        shown = [m for m in self.posted(conversation) if not m.deleted]
        if not shown:
            raise NotFoundError("the bot has posted nothing")
        return shown[-1]

    # -- the adapter -----------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    async def post(
        self, conversation: str, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        text = self._render(card)
        message = ChatMessage(
            ref=MessageRef(
                platform=self.platform,
                conversation=conversation,
                message_id=f"m{next(self._ids)}",
            ),
            user=self.bot_user,
            card=card,
            text=text,
            versions=[text],
            timestamp=time.time(),
        )
        self._set_buttons(message, card, actions)
        self._append(message)
        return message.ref

    async def post_once(
        self, conversation: str, card: Card, key: str, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        # As Matrix does: a key posted before gets the first message back, not a second one.
        for message in self._conversations.get(conversation, []):
            if message.key == key:
                return message.ref
        ref = await self.post(conversation, card, actions=actions)
        self._by_id[ref.message_id].key = key
        return ref

    async def update(
        self, ref: MessageRef, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        self._needs("edit")
        message = self._own(ref)
        message.card = card
        message.text = self._render(card)
        message.versions.append(message.text)
        self._set_buttons(message, card, actions)
        return ref

    async def delete(self, ref: MessageRef) -> None:
        self._needs("delete")
        self._own(ref).deleted = True

    async def add_reaction(self, ref: MessageRef, emoji: str) -> None:
        self._needs("reactions")
        self._message(ref).reactions.setdefault(emoji, []).append(self.bot_user.id)

    async def history(self, conversation: str, limit: int) -> list[Message]:
        self._needs("history")
        return [
            Message(
                event_id=m.ref.message_id,
                message_id=m.ref.message_id,
                conversation=conversation,
                user=m.user,
                text=m.text,
                timestamp=m.timestamp,
            )
            for m in self.messages(conversation)[-limit:]
        ]

    async def lookup_user(self, query: str) -> User | None:
        self._needs("lookup_user")
        wanted = query.strip().lstrip("@").lower()
        for user in self.users.values():
            if wanted in (user.id.lower(), user.name.lower()):
                return user
        return None

    async def upload(self, conversation: str, file: FileUpload) -> str:
        self._needs("files")
        if len(file.data) > self.max_file_bytes:
            raise ValueError("the file is too large")
        uploaded = UploadedFile(
            file_id=f"F{next(self._ids)}",
            conversation=conversation,
            filename=file.filename,
            data=file.data,
            title=file.title,
            alt_text=file.alt_text,
        )
        self.files.append(uploaded)
        return uploaded.file_id

    # -- helpers ---------------------------------------------------------------------------

    def _render(self, card: Card) -> str:
        if card.buttons and "buttons" not in self.capabilities:
            raise InvalidInputError("this MemoryChat shows no buttons")
        text = card.markdown() if "markdown" in self.capabilities else card.plain_text()
        if len(text) > self.max_message_length:
            raise InvalidInputError(
                f"message too long: {len(text)} characters, at most {self.max_message_length}"
            )
        return text

    def _set_buttons(self, message: ChatMessage, card: Card, actions: Sequence[str]) -> None:
        labels = [b.label for b in card.buttons]
        if labels and len(actions) != len(labels):
            raise InvalidInputError("each button needs its action id")
        message.buttons = labels
        message.actions.update(zip(labels, actions, strict=True))

    def _append(self, message: ChatMessage) -> None:
        self._conversations.setdefault(message.ref.conversation, []).append(message)
        self._by_id[message.ref.message_id] = message
        if not message.user.is_bot:
            self.users.setdefault(message.user.id, message.user)

    def _message(self, ref: MessageRef | ChatMessage) -> ChatMessage:
        message_id = ref.ref.message_id if isinstance(ref, ChatMessage) else ref.message_id
        found = self._by_id.get(message_id)
        if found is None:
            raise NotFoundError(f"no message {message_id!r}")
        return found

    def _own(self, ref: MessageRef) -> ChatMessage:
        message = self._message(ref)
        if message.user.id != self.bot_user.id:
            raise InvalidInputError("the bot may only change its own messages")
        if message.deleted:
            raise NotFoundError(f"message {ref.message_id!r} was deleted")
        return message

    def _needs(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise InvalidInputError(f"this MemoryChat has no {capability!r} capability")

    def _user(self, user: str | User) -> User:
        if isinstance(user, User):
            return user
        return self.users.get(user) or User(id=user, name=user.capitalize())
