"""Changing a thread's history outside any turn: items a client adds (an imported
conversation, `conversations.items.create`) and items it removes."""

from __future__ import annotations

import time
from collections.abc import Sequence

from threadline.store import AppendItems, CursorMovedError, ItemQuery, ThreadCursor
from threadline.types import (
    InvalidInputError,
    Item,
    NotFoundError,
    Payload,
    StoreError,
    SystemEvent,
    TextPart,
    ThreadRecord,
    ToolCall,
    ToolResult,
    TurnInProgressError,
    UserMessage,
    check_text,
    new_id,
)

from ._engine import Engine
from ._history import DELETED_PHASE, ROLLBACK_PHASE, HistoryIndex
from ._turn_events import item_events, loose_items

_ATTEMPTS = 20


async def _refuse_taken_calls(engine: Engine, thread_id: str, payloads: Sequence[Payload]) -> None:
    """A thread holds one call and one result per tool call id: refuse a second of either."""
    keys = [(p.type, p.tool_call_id) for p in payloads if isinstance(p, ToolCall | ToolResult)]
    if not keys:
        return
    held = await engine.store.query_items(
        ItemQuery(thread_id=thread_id, call_ids=sorted({call_id for _, call_id in keys}))
    )
    taken = {
        (i.type, i.payload.tool_call_id)
        for i in held
        if isinstance(i.payload, ToolCall | ToolResult)
    }
    for key in keys:
        if key in taken:
            kind, call_id = key
            what = "call" if kind == "tool_call" else "result"
            raise InvalidInputError(
                f"the thread holds the tool {what} of call {call_id!r} already; a tool call "
                "has one call item and one result",
                tool_call_id=call_id,
            )
        taken.add(key)


async def append_items(engine: Engine, thread_id: str, payloads: Sequence[Payload]) -> list[Item]:
    """Store `payloads` after the thread's last item, with an `item_started` and an
    `item_completed` event each, in one transaction. Refused while a turn is unfinished."""
    if not payloads:
        raise InvalidInputError("give at least one item to add")
    for payload in payloads:
        if isinstance(payload, UserMessage):
            for part in payload.content:
                if isinstance(part, TextPart):
                    check_text(part.text, "item text")
    await _refuse_taken_calls(engine, thread_id, payloads)
    for _ in range(_ATTEMPTS):
        thread = await engine.store.get_thread(thread_id)
        if thread is None:
            raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
        items = loose_items(thread_id, thread.last_item_seq, payloads)
        events = item_events(items, thread.last_event_seq)
        try:
            await engine.store.append_items(
                AppendItems(
                    thread_id=thread_id,
                    items=items,
                    events=events,
                    expected=ThreadCursor(
                        last_item_seq=thread.last_item_seq, last_event_seq=thread.last_event_seq
                    ),
                )
            )
        except CursorMovedError:
            continue
        for event in events:
            engine.bus.publish(event)
        return items
    raise StoreError(f"could not add items to thread {thread_id}: it kept changing")


async def delete_item(engine: Engine, thread_id: str, item_id: str) -> bool:
    """Hide an item from the history by appending a tombstone; the model and listings no
    longer see it. False if there is no such (visible) item."""
    items = await engine.store.load_items(thread_id)
    if item_id not in visible_ids(items):
        return False
    await append_items(
        engine,
        thread_id,
        [
            SystemEvent(
                phase=DELETED_PHASE, message="an item was deleted", data={"item_id": item_id}
            )
        ],
    )
    return True


def visible_ids(items: Sequence[Item]) -> set[str]:
    deleted = {
        i.payload.data.get("item_id")
        for i in items
        if isinstance(i.payload, SystemEvent) and i.payload.phase == DELETED_PHASE
    }
    return {i.item_id for i in items if i.item_id not in deleted}


async def rollback(engine: Engine, thread_id: str, turns: int) -> None:
    """Take the last `turns` finished turns out of the history the model sees."""
    records = await engine.store.list_turns(thread_id)
    if any(not t.is_final for t in records):
        raise TurnInProgressError(
            "cannot roll back while a turn is unfinished", thread_id=thread_id
        )
    items = await engine.store.load_items(thread_id)
    gone = HistoryIndex(i for i in items if isinstance(i.payload, SystemEvent)).rolled_back
    kept = [t for t in records if t.turn_id not in gone]
    if turns < 1 or turns > len(kept):
        raise InvalidInputError(
            f"can roll back between 1 and {len(kept)} turn(s), not {turns}", thread_id=thread_id
        )
    dropped = [t.turn_id for t in kept[-turns:]]
    await append_items(
        engine,
        thread_id,
        [
            SystemEvent(
                phase=ROLLBACK_PHASE,
                message=f"{turns} turn(s) rolled back",
                data={"turn_ids": dropped},
            )
        ],
    )


async def fork(
    engine: Engine, thread_id: str, *, upto_seq: int | None, metadata: dict[str, object] | None
) -> ThreadRecord:
    """A new thread (same agent, user and mode) whose history is a copy of the source's
    visible history up to `upto_seq`."""
    source = await engine.store.get_thread(thread_id)
    if source is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    if upto_seq is None and source.active_turn_id is not None:
        raise TurnInProgressError(
            "the thread has an unfinished turn: fork it once the turn "
            "ends, or up to an earlier seq",
            thread_id=thread_id,
        )
    items = await engine.store.load_items(thread_id, limit=upto_seq)
    hidden = HistoryIndex(i for i in items if isinstance(i.payload, SystemEvent))
    payloads = [
        i.payload
        for i in items
        if i.item_id not in hidden.deleted
        and i.turn_id not in hidden.rolled_back
        and not (
            isinstance(i.payload, SystemEvent)
            and i.payload.phase in (DELETED_PHASE, ROLLBACK_PHASE)
        )
    ]
    now = time.time()
    record = await engine.store.create_thread(
        ThreadRecord(
            thread_id=new_id("thr"),
            user_id=source.user_id,
            resource_id=source.resource_id,
            agent=source.agent,
            mode=source.mode,
            state=source.state,
            metadata={**(metadata or {}), "forked_from_id": thread_id},
            created_at=now,
            updated_at=now,
        )
    )
    if payloads:
        await append_items(engine, record.thread_id, payloads)
    return record
