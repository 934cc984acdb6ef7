"""The adapter protocol: what a chat platform must provide for a `Bot` to run on it.

An adapter connects one platform account (a Slack app, a Matrix user, an IRC nick) and
translates in both directions; it makes no decisions. The bot decides what to post, when to
edit, how buttons fall back to numbered replies and which turn an event belongs to.

Identity
    `platform` names the platform ("slack", "matrix", "irc", "memory"); together with a
    conversation key it names the bot's durable thread for that conversation, so keep it
    stable across releases. `user_id` is the bot's own id on the platform (known once
    `start` returned): the transcript bridge leaves the bot's own messages out.

Conversations
    A conversation key is an opaque string chosen by the adapter: where a reply goes. A
    channel, a room, a direct chat, or a thread within a channel ("C123/1712.55" for a
    Slack thread, a room id plus a thread root event id on Matrix). Every event names its
    conversation and every outgoing call receives one. A platform with threads should key
    a mention at the top of a channel as a new thread rooted at that message, and messages
    in a thread by that thread, so each thread is its own conversation.

Capabilities
    `capabilities` declares what the platform can do (see `Capability`); `max_message_length`
    is how many characters one message may hold. The bot only calls an optional method whose
    capability is declared, and degrades otherwise:

    | capability    | method                     | without it, the bot...                        |
    |---------------|----------------------------|-----------------------------------------------|
    | `edit`        | `update(ref, card)`        | streams as one post at the end; `update` posts |
    | `delete`      | `delete(ref)`              | `delete` returns False                        |
    | `buttons`     | cards carry `Button`s      | lists the buttons as numbered replies         |
    | `reactions`   | `add_reaction(ref, emoji)` | takes numbered replies only                   |
    | `history`     | `history(conv, limit)`     | `get_messages()` is `[]`, no transcript       |
    | `files`       | `upload(conv, file)`       | `post_file` is `{"ok": False, ...}`           |
    | `lookup_user` | `lookup_user(query)`       | `lookup_user` is None                         |
    | `markdown`    | renders `card.markdown()`  | sends `card.plain_text()`                     |
    | `images`      | shows `Image`s inline      | shows an image's alt text and URL             |

Outgoing
    `post(conversation, card)` posts a `Card` and returns its `MessageRef`. The card is already
    fitted to the platform: it has buttons only with the `buttons` capability, and its text is
    within `max_message_length` (the bot splits longer text into several posts, and streams
    that grow past the limit continue in a new message). Render `card.markdown()` or
    `card.plain_text()`, or the components themselves (Slack blocks, Matrix HTML). A button's
    click is reported with the `action_id` given in `post`'s `actions` (one per button, in
    order). Raise any exception for a failed call: the bot reports it (for a file, as
    `{"ok": False, "error": ...}`) without its text reaching the conversation.

Incoming
    `start(sink)` connects and returns once the adapter receives events; from then on each
    event (`Message`, `ActionEvent`, `ReactionEvent`) goes to `await sink.deliver(event)`,
    which returns once the bot has handled it; events of one conversation are handled in the
    order they are delivered. An adapter that must answer its platform at once (a webhook
    with a deadline) calls `sink.submit(event)` instead, which queues the event and returns
    the handling's future (done once the bot is done with the event; cancelled if the bot
    stopped first: an adapter that keeps a position in the platform's stream, a sync token,
    moves it past an event only once its handling is done).
    Never deliver the bot's own messages. Give each event the platform's own id for that
    delivery (`event_id`): retried webhooks and replayed syncs must repeat it, since it is the
    idempotency key of the turn the event starts. Webhook adapters verify the platform's
    signature (and the timestamp's age) before delivering anything, and refuse the request
    otherwise. `stop()` disconnects; no event is delivered after it returns.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

from threadline.types import ConfigurationError

from ._types import Capability, ChatEvent, FileUpload, Message, MessageRef, User
from ._ui import Card


class EventSink(Protocol):
    """Where an adapter sends the events it receives (given to `Adapter.start`)."""

    async def deliver(self, event: ChatEvent) -> None:
        """Handle `event` and return once the bot's handlers are done with it."""
        ...

    def submit(self, event: ChatEvent) -> asyncio.Future[None]:
        """Queue `event` for handling and return at once (for webhooks with a deadline, and
        adapters that handle several events at once); the future is done once the bot is."""
        ...


class Adapter(ABC):
    """A chat platform for a `Bot`; see this module's docstring for the protocol.

    Subclasses set `platform`, `capabilities`, `max_message_length` and `user_id`, and
    implement `start`, `stop` and `post`, plus the method of each capability they declare.
    """

    platform: str
    capabilities: frozenset[Capability] = frozenset()
    max_message_length: int = 4000
    user_id: str = ""

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    @abstractmethod
    async def start(self, sink: EventSink) -> None:
        """Connect, then send every event received to `sink`; return once connected."""

    @abstractmethod
    async def stop(self) -> None:
        """Disconnect; no event reaches the sink afterwards."""

    @abstractmethod
    async def post(
        self, conversation: str, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        """Post `card` into `conversation`. `actions` holds the action id of each of the card's
        buttons, in order (reported back in `ActionEvent.action_id`)."""

    async def post_once(
        self, conversation: str, card: Card, key: str, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        """`post`, named by `key`: where the platform makes sends idempotent (Matrix's
        transaction ids), posting again with the same key, from any process of the same
        account, shows no second message and returns the first one's ref. Elsewhere, `post`.
        For what a crash may make the bot post twice: a choice's or an approval's card."""
        return await self.post(conversation, card, actions=actions)

    async def update(
        self, ref: MessageRef, card: Card, *, actions: Sequence[str] = ()
    ) -> MessageRef:
        """Replace the content of a posted message (capability `edit`)."""
        raise _lacks(self, "edit")

    async def delete(self, ref: MessageRef) -> None:
        """Delete a posted message (capability `delete`)."""
        raise _lacks(self, "delete")

    async def add_reaction(self, ref: MessageRef, emoji: str) -> None:
        """React to a message as the bot (capability `reactions`)."""
        raise _lacks(self, "reactions")

    async def history(self, conversation: str, limit: int) -> list[Message]:
        """The newest `limit` messages of the conversation, oldest first, the bot's own
        included (capability `history`)."""
        raise _lacks(self, "history")

    async def lookup_user(self, query: str) -> User | None:
        """The user whose id or name matches `query`, None if there is none (capability
        `lookup_user`)."""
        raise _lacks(self, "lookup_user")

    async def upload(self, conversation: str, file: FileUpload) -> str:
        """Post a file into the conversation and return the platform's id for it (capability
        `files`)."""
        raise _lacks(self, "files")


def _lacks(adapter: Adapter, capability: str) -> ConfigurationError:
    return ConfigurationError(
        f"the {adapter.platform} adapter does not declare the {capability!r} capability"
    )
