from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from threadline.models import Model
from threadline.store import Store, ThreadCursor, ToolCallState, TurnWrite
from threadline.types import (
    Budget,
    EventType,
    Item,
    ItemStatus,
    Payload,
    ThreadRecord,
    TimerRecord,
    TurnRecord,
    TurnStatus,
    Usage,
    new_id,
    payload_to_dict,
)

from ._agent import Agent
from ._faults import FaultHook, FaultPoint
from ._turn_events import TurnEvents

_UNSET: Any = object()
Trailing = tuple[EventType, dict[str, Any], str | None]
"""An event emitted after the committed items' `item_completed` events."""


@dataclass(kw_only=True, slots=True)
class NewItem:
    """An item whose id is known (events name it) but whose seq is given at commit."""

    item_id: str
    payload: Payload
    status: ItemStatus = "completed"


@dataclass(kw_only=True)
class TurnContext:
    """Everything one turn works with. It owns the thread's cursor while the turn runs."""

    store: Store
    thread: ThreadRecord
    turn: TurnRecord
    agent: Agent
    model: Model
    budget: Budget
    events: TurnEvents
    history: list[Item]
    last_item_seq: int
    epoch: int
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    state: dict[str, Any] | None = None
    repairs: int = 0
    output: Any = None
    faults: FaultHook | None = None
    lease_lost: bool = False
    services: Any = None  # the engine's services for tools (choices, timers)

    async def fault(self, point: FaultPoint) -> None:
        if self.faults is not None:
            await self.faults.hit(point)

    def item_started(self, item_id: str, payload: Payload) -> None:
        self.events.emit("item_started", item_id=item_id, params={"item": {
            "id": item_id, "type": payload.type, "status": "in_progress",
            "content": payload_to_dict(payload)}})

    async def commit(self, new_items: Sequence[NewItem], *,
                     turn_status: TurnStatus | None = None,
                     end: Literal["release", "pause"] | None = None,
                     error: dict[str, Any] | None = None, state: Any = _UNSET,
                     trailing: Sequence[Trailing] = (),
                     tool_states: Mapping[str, ToolCallState] | None = None,
                     wake_after: float | None = None, consume_inbox: Sequence[str] = (),
                     timers: Sequence[TimerRecord] = ()) -> list[Item]:
        """Write new items (numbered now), their `item_completed` events, the `trailing`
        events, the counters, and everything emitted since the last commit, in one
        transaction."""
        now = time.time()
        items: list[Item] = []
        for new in new_items:
            self.last_item_seq += 1
            item = Item(item_id=new.item_id, thread_id=self.thread.thread_id,
                        turn_id=self.turn.turn_id, seq=self.last_item_seq, status=new.status,
                        payload=new.payload, created_at=now)
            items.append(item)
            self.events.emit("item_completed", item_id=item.item_id,
                             params={"item": item.to_dict()})
        for event_type, params, item_id in trailing:
            self.events.emit(event_type, item_id=item_id, params=params)
        write = TurnWrite(
            thread_id=self.thread.thread_id, turn_id=self.turn.turn_id, epoch=self.epoch,
            cursor=ThreadCursor(last_item_seq=self.last_item_seq,
                                last_event_seq=self.events.last_seq),
            items=items, events=self.events.take_unstored(), turn_status=turn_status,
            usage=self.usage, steps=self.steps, error=error, end=end, wake_after=wake_after,
            tool_states=tool_states or {}, consume_inbox=consume_inbox, timers=timers,
            **({} if state is _UNSET else {"thread_state": state}))
        # The write finishes even if this task is cancelled meanwhile: its outcome decides
        # what the turn knows, so that an interrupt never writes the same items twice.
        writing = asyncio.ensure_future(self.store.write_turn(write))
        cancelled = False
        while True:
            try:
                await asyncio.shield(writing)
                break
            except asyncio.CancelledError:
                if writing.done():
                    break
                cancelled = True
            except BaseException:
                break
        if writing.cancelled() or writing.exception() is not None:
            self.last_item_seq -= len(items)  # nothing of it was stored
            if writing.cancelled():
                raise asyncio.CancelledError
            raise writing.exception()  # type: ignore[misc]
        self.history.extend(items)
        if turn_status is not None:
            self.turn = replace(self.turn, status=turn_status, usage=self.usage,
                                steps=self.steps, error=error, updated_at=now,
                                completed_at=now if end == "release" else None)
        if cancelled:
            raise asyncio.CancelledError
        return items

    def turn_items(self) -> list[Item]:
        turn_id = self.turn.turn_id
        return [i for i in self.history if i.turn_id == turn_id]


def new_item(payload: Payload, status: ItemStatus = "completed") -> NewItem:
    return NewItem(item_id=new_id("item"), payload=payload, status=status)
