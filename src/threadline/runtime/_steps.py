"""The step records of a turn: numbered from what is stored, built as each step is written.

A step is numbered when it starts. A fresh turn starts at 0 without reading anything; a turn
continued in a new context (after a pause, a crash, or in another process) reads its stored
steps once, at its first step: a tool batch that paused is continued under its own number,
anything else follows the last stored step. A step whose write was lost to a crash is
numbered again as it was, and its record is upserted by number, so none is duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.store import Store
from threadline.types import StepKind, StepRecord, StepStatus, Usage, new_id


@dataclass(kw_only=True, slots=True)
class OpenStep:
    """A step that has started: what its record will say when it is written."""

    thread_id: str
    turn_id: str
    number: int
    kind: StepKind
    step_id: str = field(default_factory=lambda: new_id("step"))
    started_at: float = field(default_factory=time.time)
    item_ids: tuple[str, ...] = ()  # stored before a pause (a continued tool batch)
    usage: Usage = field(default_factory=Usage)
    data: dict[str, Any] = field(default_factory=dict[str, Any])

    def record(
        self,
        status: StepStatus,
        item_ids: Sequence[str],
        *,
        usage: Usage | None = None,
        data: dict[str, Any] | None = None,
    ) -> StepRecord:
        """The record to store with the step's items; the step keeps what it stored, so a
        later write of it (after a pause) adds to it."""
        self.item_ids = (*self.item_ids, *item_ids)
        if usage is not None:
            self.usage = self.usage + usage
        if data is not None and not self.data:
            self.data = data
        return StepRecord(
            step_id=self.step_id,
            thread_id=self.thread_id,
            turn_id=self.turn_id,
            number=self.number,
            kind=self.kind,
            status=status,
            started_at=self.started_at,
            ended_at=None if status == "paused" else time.time(),
            usage=self.usage,
            item_ids=self.item_ids,
            data=self.data,
        )


class StepLog:
    """Numbers the steps of one turn in one context."""

    def __init__(self, store: Store, thread_id: str, turn_id: str, next_number: int | None) -> None:
        self._store = store
        self._thread_id = thread_id
        self._turn_id = turn_id
        self._next = next_number  # None: not known until the stored steps are read
        self._paused: StepRecord | None = None  # a tool batch stored as paused
        self._closing: list[StepRecord] = []

    def take_closing(self) -> list[StepRecord]:
        """Records of steps that ended while the turn waited, for the next write."""
        if not self._closing:
            return []
        closing, self._closing = self._closing, []
        return closing

    async def open(self, kind: StepKind) -> OpenStep:
        """Start the turn's next step (a tool batch that paused continues as itself)."""
        if self._next is None:
            stored = await self._store.list_steps(self._thread_id, self._turn_id)
            last = stored[-1] if stored else None
            self._next = 0 if last is None else last.number + 1
            if last is not None and last.kind == "tools" and last.status == "paused":
                self._paused = last
        paused, self._paused = self._paused, None
        if paused is not None:  # what comes after it is numbered after it
            self._next = paused.number + 1
        if paused is not None and kind != "tools":
            # Its calls were answered while it waited (results a caller submitted): it ended
            # then, and is stored so with the next write.
            self._closing.append(replace(paused, status="completed", ended_at=time.time()))
        elif paused is not None:
            return OpenStep(
                thread_id=self._thread_id,
                turn_id=self._turn_id,
                number=paused.number,
                kind=kind,
                step_id=paused.step_id,
                started_at=paused.started_at,
                item_ids=paused.item_ids,
                usage=paused.usage,
                data=dict(paused.data),
            )
        number = self._next
        self._next += 1
        return OpenStep(thread_id=self._thread_id, turn_id=self._turn_id, number=number, kind=kind)
