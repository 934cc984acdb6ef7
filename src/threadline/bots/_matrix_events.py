"""What the Matrix adapter receives: room events (as the homeserver sends them, JSON) read as
the bot's messages and reactions, and the conversation keys that say where a reply goes.

A conversation is a room (`!room`), or a thread in a room (`!room/$root`, the thread's root
event). A mention at the top of a group room starts a thread rooted at it; a message in a
thread belongs to that thread; in a direct room (the bot and one person) every message speaks
to the bot and the room itself is the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from threadline.types import InvalidInputError

from ._types import Message, User
from ._ui import NUMBER_EMOJI

_TEXT_TYPES = ("m.text", "m.emote", "m.file", "m.image", "m.audio", "m.video")
_BAD_KEY_CHARACTERS = re.compile(r"[\s\x00-\x1f/]")


def conversation_key(room_id: str, root: str | None) -> str:
    return room_id if root is None else f"{room_id}/{root}"


def parse_conversation(key: str) -> tuple[str, str | None]:
    """The room id and thread root of a conversation key. Raises `InvalidInputError`."""
    room_id, separator, root = key.partition("/")
    if (
        not room_id.startswith("!")
        or len(room_id) < 2
        or _BAD_KEY_CHARACTERS.search(room_id)
        or (separator and (not root.startswith("$") or _BAD_KEY_CHARACTERS.search(root)))
    ):
        raise InvalidInputError(
            f"{key!r} is not a Matrix conversation (a room id, or a room id and a thread's "
            "root event id: '!room/$event')"
        )
    return room_id, (root or None)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}  # pyright: ignore[reportUnknownVariableType]


def relation(content: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(content.get("m.relates_to"))


def thread_root(content: Mapping[str, Any]) -> str | None:
    """The root of the thread the event is in, None for an event outside threads."""
    related = relation(content)
    root = related.get("event_id")
    return root if related.get("rel_type") == "m.thread" and isinstance(root, str) else None


def shown_content(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The event's content as it is shown now: its latest edit by its sender (which the
    homeserver bundles under `unsigned`) applied."""
    content = _mapping(event.get("content"))
    edit = _mapping(_mapping(_mapping(event.get("unsigned")).get("m.relations")).get("m.replace"))
    new = _mapping(_mapping(edit.get("content")).get("m.new_content"))
    if new and edit.get("sender") in (None, event.get("sender")):
        return {**new, "m.relates_to": content.get("m.relates_to")}
    return content


@dataclass(frozen=True, kw_only=True)
class BotAccount:
    """The bot, as the adapter judges whether a message speaks to it."""

    user_id: str
    display_name: str | None

    @property
    def names(self) -> list[str]:
        localpart = self.user_id[1:].split(":", 1)[0]
        names = [self.user_id, localpart]
        if self.display_name and self.display_name.strip():
            names.insert(1, self.display_name.strip())
        return names


def readable_text(event: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The text of a message event as shown now and its content; None for what is not a
    message (another event type, an edit, a redacted message, one without text)."""
    if event.get("type") != "m.room.message":
        return None
    original = _mapping(event.get("content"))
    if relation(original).get("rel_type") == "m.replace":
        return None  # an edit: it changes its original and is read with it
    content = shown_content(event)
    body = content.get("body")
    if not isinstance(body, str) or content.get("msgtype") not in (*_TEXT_TYPES, "m.notice"):
        return None
    return body, content


def message_from(
    event: Mapping[str, Any],
    room_id: str,
    *,
    bot: BotAccount,
    direct: bool,
    name_of: Callable[[str], str],
    incoming: bool,
) -> Message | None:
    """The event as a `Message`, or None if it is none. `incoming` (a message the bot
    receives, not one read from history) leaves out the bot's own messages and notices (the
    messages of other bots, which must not answer each other), and keys a mention at the top
    of a group room as a new thread rooted at it."""
    read = readable_text(event)
    sender, event_id = event.get("sender"), event.get("event_id")
    if read is None or not isinstance(sender, str) or not isinstance(event_id, str):
        return None
    body, content = read
    if incoming and (sender == bot.user_id or content.get("msgtype") == "m.notice"):
        return None
    text = _without_reply_fallback(body, content)
    mentioned = direct or _mentions(bot, content, text)
    root = thread_root(content)
    if incoming and root is None and mentioned and not direct:
        root = event_id
    stamp = event.get("origin_server_ts")
    return Message(
        event_id=event_id,
        message_id=event_id,
        conversation=conversation_key(room_id, root),
        user=User(id=sender, name=name_of(sender), is_bot=sender == bot.user_id),
        text=_unaddressed(bot, text) if mentioned else text,
        mentioned=mentioned,
        timestamp=stamp / 1000 if isinstance(stamp, int | float) else 0.0,
    )


def after_joining(events: list[Mapping[str, Any]], user_id: str) -> list[Mapping[str, Any]]:
    """The events after `user_id` joined, when they joined among them (a room's history before
    the bot joined is not said to it)."""
    for index in range(len(events) - 1, -1, -1):
        event = events[index]
        if (
            event.get("type") == "m.room.member"
            and event.get("state_key") == user_id
            and _mapping(event.get("content")).get("membership") == "join"
            and _mapping(_mapping(event.get("unsigned")).get("prev_content")).get("membership")
            != "join"
        ):
            return events[index + 1 :]
    return events


def reaction_from(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """The event a reaction is on and its emoji (numbers' keycaps in their usual form), None
    for an event that is not a reaction."""
    if event.get("type") != "m.reaction":
        return None
    related = relation(_mapping(event.get("content")))
    target, key = related.get("event_id"), related.get("key")
    if related.get("rel_type") != "m.annotation" or not isinstance(target, str):
        return None
    if not isinstance(key, str) or not key:
        return None
    return target, normal_emoji(key)


def normal_emoji(key: str) -> str:
    """A keycap number without its variation selector ("1⃣"), as some clients send it, in the
    form the bot's number reactions use ("1️⃣")."""
    if key not in NUMBER_EMOJI and len(key) == 2 and key.endswith("\u20e3"):
        fuller = key[0] + "\ufe0f\u20e3"
        if fuller in NUMBER_EMOJI:
            return fuller
    return key


def _mentions(bot: BotAccount, content: Mapping[str, Any], text: str) -> bool:
    user_ids = _mapping(content.get("m.mentions")).get("user_ids")
    if isinstance(user_ids, list) and bot.user_id in user_ids:
        return True
    return any(_names(name, text) for name in bot.names)


def _names(name: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


def _unaddressed(bot: BotAccount, text: str) -> str:
    """The text without a leading `Name:` or `@name,` that addresses the bot."""
    for name in bot.names:
        match = re.match(rf"\s*@?{re.escape(name)}\s*[:,]\s*", text, re.IGNORECASE)
        if match:
            return text[match.end() :]
    return text


def _without_reply_fallback(body: str, content: Mapping[str, Any]) -> str:
    """The body without the quoted original that older clients put before a reply."""
    related = relation(content)
    if not _mapping(related.get("m.in_reply_to")) or related.get("is_falling_back"):
        return body
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")
