"""What Slack sends the bot: Events API callbacks and interactivity payloads (button clicks),
as chat events. Slack's payload shapes are read here; who people are and which thread a
message is in are asked of the adapter (`Receiver`), within the time left to acknowledge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ._adapter import EventSink
from ._slack_format import (
    conversation_key,
    emoji_from_name,
    mentioned_users,
    mentions,
    message_conversation,
    to_plain,
)
from ._types import ActionEvent, ChatEvent, Message, MessageRef, ReactionEvent, User

# Message subtypes that are something a person said; the others are joins, topic changes,
# edits and deletions, or the notices Slack sends about a thread.
_SPOKEN_SUBTYPES = frozenset({"", "thread_broadcast", "file_share", "me_message"})


class Receiver(Protocol):
    """The adapter, as the webhook endpoint needs it."""

    platform: str
    user_id: str
    bot_id: str

    @property
    def sink(self) -> EventSink | None: ...

    async def user(
        self, user_id: str, *, deadline: float | None = None, fallback: str | None = None
    ) -> User: ...

    async def names(
        self, user_ids: Iterable[str], *, deadline: float | None = None
    ) -> dict[str, str]: ...

    async def conversation_of(
        self, channel: str, ts: str, *, deadline: float | None = None
    ) -> str: ...


async def callback_events(
    envelope: Mapping[str, Any], receiver: Receiver, deadline: float
) -> list[ChatEvent]:
    """The chat events of one Events API callback (`type: event_callback`)."""
    event = envelope.get("event")
    event_id = envelope.get("event_id")
    if not isinstance(event, dict) or not isinstance(event_id, str):
        return []
    data: dict[str, Any] = event
    kind = data.get("type")
    if kind == "app_mention":
        found = await _message(data, event_id, receiver, deadline, app_mention=True)
    elif kind == "message":
        found = await _message(data, event_id, receiver, deadline, app_mention=False)
    elif kind in ("reaction_added", "reaction_removed"):
        found = await _reaction(data, event_id, receiver, deadline)
    else:
        found = None
    return [] if found is None else [found]


async def _message(
    event: dict[str, Any], event_id: str, receiver: Receiver, deadline: float, *, app_mention: bool
) -> Message | None:
    channel, ts = event.get("channel"), event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if event.get("hidden") or str(event.get("subtype") or "") not in _SPOKEN_SUBTYPES:
        return None
    bot_id = event.get("bot_id")
    if _is_own(event, receiver):
        return None
    text = str(event.get("text") or "")
    direct = event.get("channel_type") == "im"
    if not app_mention and not direct and mentions(text, receiver.user_id):
        return None  # Slack sends the same message as an app_mention: that one is handled
    thread_ts = event.get("thread_ts")
    if not isinstance(thread_ts, str) or not thread_ts:
        # A mention at the top of a channel starts a thread rooted at it.
        thread_ts = ts if app_mention else None
    user_id = event.get("user")
    if isinstance(user_id, str) and user_id:
        user = await receiver.user(user_id, deadline=deadline)
    else:
        name = str(event.get("username") or bot_id or "unknown")
        user = User(id=str(bot_id or name), name=name, is_bot=True)
    names = await receiver.names(mentioned_users(text), deadline=deadline)
    return Message(
        event_id=event_id,
        message_id=ts,
        conversation=conversation_key(channel, thread_ts),
        user=user,
        text=to_plain(text, names=names, bot_user_id=receiver.user_id),
        mentioned=app_mention or direct,
        timestamp=_seconds(ts),
    )


async def _reaction(
    event: dict[str, Any], event_id: str, receiver: Receiver, deadline: float
) -> ReactionEvent | None:
    item = event.get("item")
    user_id = event.get("user")
    reaction = event.get("reaction")
    if not isinstance(item, dict) or item.get("type") != "message":
        return None
    channel, ts = item.get("channel"), item.get("ts")
    if not (isinstance(channel, str) and isinstance(ts, str) and isinstance(user_id, str)):
        return None
    if not isinstance(reaction, str) or user_id == receiver.user_id:
        return None
    # Reactions matter to the bot only on its own messages (the cards it asks with).
    if event.get("item_user") != receiver.user_id:
        return None
    conversation = await receiver.conversation_of(channel, ts, deadline=deadline)
    return ReactionEvent(
        event_id=event_id,
        conversation=conversation,
        message=MessageRef(platform=receiver.platform, conversation=conversation, message_id=ts),
        emoji=emoji_from_name(reaction),
        user=await receiver.user(user_id, deadline=deadline),
        added=event.get("type") == "reaction_added",
    )


async def interaction_events(
    payload: Mapping[str, Any], receiver: Receiver, deadline: float
) -> list[ChatEvent]:
    """The button clicks of one interactivity payload (`type: block_actions` on a message)."""
    if payload.get("type") != "block_actions":
        return []
    message = payload.get("message")
    channel = payload.get("channel")
    user = payload.get("user")
    actions = payload.get("actions")
    if not (isinstance(message, dict) and isinstance(channel, dict) and isinstance(user, dict)):
        return []  # a click in a modal or on an ephemeral message: not a card the bot posted
    channel_id, ts, user_id = channel.get("id"), message.get("ts"), user.get("id")
    if not (isinstance(channel_id, str) and isinstance(ts, str) and isinstance(user_id, str)):
        return []
    if not isinstance(actions, list):
        return []
    conversation = message_conversation(channel_id, message)
    ref = MessageRef(platform=receiver.platform, conversation=conversation, message_id=ts)
    fallback = user.get("name") or user.get("username")
    clicker = await receiver.user(
        user_id, deadline=deadline, fallback=fallback if isinstance(fallback, str) else None
    )
    clicks = [a for a in actions if isinstance(a, dict) and isinstance(a.get("action_id"), str)]
    trigger = payload.get("trigger_id")
    events: list[ChatEvent] = []
    for index, action in enumerate(clicks):
        base = trigger if isinstance(trigger, str) else f"{ts}:{action.get('action_ts')}"
        events.append(
            ActionEvent(
                event_id=base if len(clicks) == 1 else f"{base}:{index}",
                conversation=conversation,
                message=ref,
                action_id=str(action["action_id"]),
                user=clicker,
            )
        )
    return events


def _is_own(event: Mapping[str, Any], receiver: Receiver) -> bool:
    user_id, bot_id = event.get("user"), event.get("bot_id")
    return (bool(user_id) and user_id == receiver.user_id) or (
        bool(bot_id) and bot_id == receiver.bot_id
    )


def _seconds(ts: str) -> float:
    try:
        return float(ts)
    except ValueError:
        return 0.0
