"""The transcript bridge: what people said in the conversation, read from the platform before
each turn. The platform is the source of truth for the humans' messages, the stored thread for
what the agent did: the bot's own messages are left out (its turns hold them), and each
platform message is brought into the thread once. Which ones were is stored with the turn that
brought them (its annotations), in the transaction that starts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from threadline.types import InvalidInputError, TextPart, UserMessage

from ._bot_agent import BOT_ANNOTATIONS
from ._delivery import Target
from ._types import Message

TRANSCRIPT = "transcript"  # a turn's bot annotations: the platform message ids it brought in
DEFAULT_LIMIT = 50


def transcript_limit(transcript: bool | Mapping[str, Any]) -> int | None:
    """How many platform messages to read, None for no bridge. Raises `InvalidInputError`."""
    if transcript is False:
        return None
    if transcript is True:
        return DEFAULT_LIMIT
    if isinstance(transcript, Mapping):
        unknown = set(transcript) - {"limit"}
        limit = transcript.get("limit", DEFAULT_LIMIT)
        if unknown or isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError('transcript is True, False or {"limit": n} with n >= 1')
        return limit
    raise InvalidInputError('transcript is True, False or {"limit": n} with n >= 1')


def spoken(message: Message) -> str:
    """A person's message as the agent reads it in a conversation of several people."""
    return f"{message.user.name}: {message.text}"


async def transcript_messages(
    target: Target, limit: int, trigger: Message | None
) -> tuple[list[UserMessage], list[str]]:
    """The people's messages the thread does not hold yet (as history to import before the
    turn's input) and the platform ids to record as brought in (the trigger's included)."""
    adapter = target.adapter
    consumed = [trigger.message_id] if trigger is not None else []
    if not adapter.can("history"):
        return [], consumed
    recent = await adapter.history(target.conversation, limit)
    seen = await _brought_in(target)
    history: list[UserMessage] = []
    for message in recent:
        if message.user.id == adapter.user_id or message.message_id in seen:
            continue
        if trigger is not None and message.message_id == trigger.message_id:
            continue
        consumed.append(message.message_id)
        if message.text.strip():
            history.append(
                UserMessage(content=(TextPart(text=spoken(message)),), sender=message.user.name)
            )
    return history, consumed


async def _brought_in(target: Target) -> set[str]:
    seen: set[str] = set()
    for turn in await target.thread.turns():
        annotations = turn.options.get("annotations") or {}
        ours = annotations.get(BOT_ANNOTATIONS) or {}
        ids = ours.get(TRANSCRIPT) or []
        seen.update(i for i in ids if isinstance(i, str))
    return seen
