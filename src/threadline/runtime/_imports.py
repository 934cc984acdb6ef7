"""History a caller supplies for a turn: a conversation kept elsewhere until now, such as the
one a Responses API client sends whole with each request. It is checked, its call ids are
made unique in the thread, and it is stored before the turn's input, outside any turn and
followed by an `IMPORTED_PHASE` marker, in the transaction that starts the turn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from threadline.store import ItemQuery, Store
from threadline.types import (
    IMPORTED_PHASE,
    AgentMessage,
    Event,
    InvalidInputError,
    Item,
    Payload,
    SystemEvent,
    TextPart,
    ThreadRecord,
    ToolCall,
    ToolResult,
    UserMessage,
    check_text,
    new_id,
)

from ._history import SUMMARY_PHASE
from ._input import MAX_INPUT_CHARS
from ._turn_events import item_events, loose_items


@dataclass(frozen=True, kw_only=True)
class Imported:
    """The items (the history, then its marker) and their events, numbered after the thread's
    last ones."""

    items: list[Item]
    events: list[Event]


def check_history(history: Sequence[Payload]) -> None:
    """Raises `InvalidInputError` unless `history` is one a model can read: user and agent
    messages, tool calls each answered by one later result, and summaries of earlier history
    (system events of phase "summary"), with text a store can keep."""
    waiting: set[str] = set()
    seen: set[str] = set()
    for index, payload in enumerate(history):
        where = f"history[{index}]"
        if isinstance(payload, UserMessage):
            _check_size([p.text for p in payload.content if isinstance(p, TextPart)], where)
        elif isinstance(payload, AgentMessage):
            _check_size([payload.text], where)
        elif isinstance(payload, ToolCall):
            _check_size([payload.tool_call_id, payload.name, payload.arguments], where)
            if payload.tool_call_id in seen:
                raise InvalidInputError(
                    f"{where} repeats the tool call id {payload.tool_call_id!r}", field=where
                )
            seen.add(payload.tool_call_id)
            waiting.add(payload.tool_call_id)
        elif isinstance(payload, SystemEvent) and payload.phase == SUMMARY_PHASE:
            _check_size([payload.message], where)
        elif isinstance(payload, ToolResult):
            _check_size([payload.tool_call_id, payload.name, payload.output], where)
            if payload.tool_call_id not in waiting:
                raise InvalidInputError(
                    f"{where} is the result of tool call {payload.tool_call_id!r}, which no "
                    "earlier item of the history makes (or another result answered)",
                    field=where,
                )
            waiting.discard(payload.tool_call_id)
        else:
            raise InvalidInputError(
                f"{where} is a {payload.type}: a history holds user and agent messages, tool "
                "calls and tool results, and summaries of what came before",
                field=where,
            )
    if waiting:
        raise InvalidInputError(
            f"tool call {sorted(waiting)[0]!r} of the history has no result: give each call "
            "its result",
            field="history",
        )


async def prepare_import(
    store: Store, thread: ThreadRecord, turn_id: str, history: Sequence[Payload]
) -> Imported:
    """The items and events that store `history` (checked by `check_history`) after the
    thread's last ones, for the turn `turn_id`. A call id the thread holds already is stored under a fresh one; the marker
    keeps the caller's."""
    call_ids = [p.tool_call_id for p in history if isinstance(p, ToolCall)]
    taken = {
        i.payload.tool_call_id
        for i in await store.query_items(
            ItemQuery(thread_id=thread.thread_id, call_ids=call_ids, types=["tool_call"])
        )
        if isinstance(i.payload, ToolCall)
    }
    fresh = {call_id: new_id("call") for call_id in call_ids if call_id in taken}
    payloads: list[Payload] = [
        replace(p, tool_call_id=fresh[p.tool_call_id])
        if isinstance(p, ToolCall | ToolResult) and p.tool_call_id in fresh
        else p
        for p in history
    ]
    data: dict[str, object] = {"turn_id": turn_id, "count": len(payloads)}
    if fresh:
        data["call_ids"] = {stored: original for original, stored in fresh.items()}
    payloads.append(
        SystemEvent(
            phase=IMPORTED_PHASE,
            message=f"{len(history)} item(s) of history supplied by the caller",
            data=data,
        )
    )
    items = loose_items(thread.thread_id, thread.last_item_seq, payloads)
    return Imported(items=items, events=item_events(items, thread.last_event_seq))


def _check_size(texts: list[str], where: str) -> None:
    for text in texts:
        check_text(text, f"{where} text")
    if sum(len(t) for t in texts) > MAX_INPUT_CHARS:
        raise InvalidInputError(f"{where} is longer than {MAX_INPUT_CHARS} characters", field=where)
