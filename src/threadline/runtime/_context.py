from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.models import Model
from threadline.store import Store, ThreadCursor, TurnWrite
from threadline.types import (
    Budget,
    Item,
    ItemStatus,
    Payload,
    ThreadRecord,
    TurnRecord,
    TurnStatus,
    Usage,
    new_id,
    payload_to_dict,
)

from ._agent import Agent
from ._turn_events import TurnEvents

_UNSET: Any = object()


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
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    state: dict[str, Any] | None = None
    repairs: int = 0
    output: Any = None

    def item_started(self, item_id: str, payload: Payload) -> None:
        self.events.emit("item_started", item_id=item_id, params={"item": {
            "id": item_id, "type": payload.type, "status": "in_progress",
            "content": payload_to_dict(payload)}})

    async def commit(self, new_items: list[NewItem], *, turn_status: TurnStatus | None = None,
                     release: bool = False, error: dict[str, Any] | None = None,
                     state: Any = _UNSET, terminal: tuple[str, dict[str, Any]] | None = None
                     ) -> list[Item]:
        """Write new items (numbered now), their `item_completed` events, the counters, and
        everything emitted since the last commit, in one transaction."""
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
        if terminal is not None:
            self.events.emit(terminal[0], params=terminal[1])  # type: ignore[arg-type]
        write = TurnWrite(
            thread_id=self.thread.thread_id, turn_id=self.turn.turn_id,
            cursor=ThreadCursor(last_item_seq=self.last_item_seq,
                                last_event_seq=self.events.last_seq),
            items=items, events=self.events.take_unstored(), turn_status=turn_status,
            usage=self.usage, steps=self.steps, error=error, release=release,
            **({} if state is _UNSET else {"thread_state": state}))
        await self.store.write_turn(write)
        self.history.extend(items)
        if turn_status is not None:
            self.turn = replace(self.turn, status=turn_status, usage=self.usage,
                                steps=self.steps, error=error, updated_at=now,
                                completed_at=now if release else None)
        return items

    def turn_items(self) -> list[Item]:
        turn_id = self.turn.turn_id
        return [i for i in self.history if i.turn_id == turn_id]


def new_item(payload: Payload, status: ItemStatus = "completed") -> NewItem:
    return NewItem(item_id=new_id("item"), payload=payload, status=status)
