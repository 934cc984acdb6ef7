"""Messages of a thread, read and written one at a time: inject, edit (an `edited` marker that
the request builder applies, so the original stays in the log), read back with their versions,
and queue. The rules live here once; a tool reaches them through `_tool_messages`, the
`Thread` handle through `_thread_messages`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from threadline.store import Store
from threadline.tools import MessageContent, MessageRole
from threadline.types import (
    DELETED_PHASE,
    EDITED_PHASE,
    AgentMessage,
    ContentPart,
    FileInfo,
    InboxEntry,
    InvalidInputError,
    Item,
    NotFoundError,
    Payload,
    SystemEvent,
    TextPart,
    ThreadRecord,
    ToolResult,
    UserMessage,
    check_text,
    payload_to_dict,
)

from ._attachments import accept_attachments, has_files
from ._history import edited_content
from ._inbox import enqueue_parts
from ._input import normalize_input

if TYPE_CHECKING:
    from ._engine import Engine

EDITABLE = ("user_message", "agent_message", "tool_result")


async def message_payload(
    store: Store,
    thread_id: str,
    content: MessageContent,
    role: MessageRole,
    sender: str | None,
    staged: Mapping[str, FileInfo] | None = None,
) -> Payload:
    """The item a message for the thread becomes. Raises `InvalidInputError` for malformed
    content, `NotFoundError` for an attached file the thread does not have."""
    if role == "assistant":
        if sender is not None:
            raise InvalidInputError("an assistant message has no sender")
        return AgentMessage(text=_text_of(content, "an assistant message"))
    parts, sender = normalize_input(content, sender)
    return UserMessage(content=await _attached(store, thread_id, parts, staged), sender=sender)


async def edited_payload(
    store: Store,
    item: Item,
    content: MessageContent,
    staged: Mapping[str, FileInfo] | None = None,
) -> Payload:
    """`item`'s payload with `content` in place of its text (a user message's parts, an agent
    message's text, a tool result's output). Raises `InvalidInputError`, or `NotFoundError`
    for an attached file the thread does not have."""
    payload = item.payload
    if isinstance(payload, UserMessage):
        parts, _ = normalize_input(content, None)
        return replace(payload, content=await _attached(store, item.thread_id, parts, staged))
    if isinstance(payload, AgentMessage):
        return replace(payload, text=_text_of(content, "an agent message"))
    if isinstance(payload, ToolResult):
        return replace(payload, output=_text_of(content, "a tool result", empty=True))
    raise InvalidInputError(
        f"item {item.item_id} is a {item.type}: only these can be edited: {', '.join(EDITABLE)}",
        item_id=item.item_id,
    )


async def _attached(
    store: Store,
    thread_id: str,
    parts: tuple[ContentPart, ...],
    staged: Mapping[str, FileInfo] | None,
) -> tuple[ContentPart, ...]:
    if not has_files(parts):
        return parts
    return await accept_attachments(store, thread_id, parts, staged)


def edit_marker(item_id: str, payload: Payload) -> SystemEvent:
    return SystemEvent(
        phase=EDITED_PHASE,
        message="an item was edited",
        data={"item_id": item_id, "type": payload.type, "content": payload_to_dict(payload)},
    )


def _text_of(content: MessageContent, what: str, *, empty: bool = False) -> str:
    if isinstance(content, str):
        text = content
    elif isinstance(content, Sequence) and not isinstance(content, bytes | bytearray):
        parts, _ = normalize_input(content, None)
        if not all(isinstance(p, TextPart) for p in parts):
            raise InvalidInputError(f"{what} is text only")
        text = "".join(p.text for p in parts if isinstance(p, TextPart))
    else:
        raise InvalidInputError(f"{what} must be text, not {type(content).__name__}")
    check_text(text, what)
    if not empty and not text.strip():
        raise InvalidInputError(f"{what} is empty")
    return text


# -- versions ---------------------------------------------------------------------------------


def current(item: Item, later: Iterable[Item]) -> Item:
    """`item` as last edited by the markers among `later` (the thread's items after it).
    Raises `NotFoundError` if one of them took it out of the history."""
    return versions(item, later)[-1]


def versions(item: Item, later: Iterable[Item]) -> list[Item]:
    """`item` as stored, then as each edit among `later` left it (same id and seq, the edit's
    time). Raises `NotFoundError` if one of them took it out of the history."""
    found = [item]
    for marker in later:
        payload = marker.payload
        if not isinstance(payload, SystemEvent) or payload.data.get("item_id") != item.item_id:
            continue
        if payload.phase == DELETED_PHASE:
            raise not_found(item.item_id)
        if payload.phase == EDITED_PHASE:
            edited = edited_content(payload)
            if edited is not None and edited[1].type == item.type:
                found.append(replace(item, payload=edited[1], created_at=marker.created_at))
    return found


def not_found(item_id: str) -> NotFoundError:
    return NotFoundError(f"no item {item_id!r} in this thread", item_id=item_id)


# -- queueing ---------------------------------------------------------------------------------


async def queue(
    engine: Engine,
    thread: ThreadRecord,
    content: MessageContent,
    *,
    sender: str | None,
    client_key: str | None,
    staged: Mapping[str, FileInfo] | None = None,
) -> InboxEntry:
    """Queue a message for the thread: it steers the unfinished turn (before its next model
    step), or, when there is none, starts a turn of its own (the store decides, in the write).
    """
    parts, sender = normalize_input(content, sender)
    entry = await enqueue_parts(
        engine,
        thread.thread_id,
        parts,
        sender=sender,
        client_key=client_key,
        kind="steer",
        staged=staged,
    )
    if entry.kind == "input":
        engine.spawn(engine.drain(thread.thread_id))
    return entry
