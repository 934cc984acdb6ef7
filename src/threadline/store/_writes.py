from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline.types import Event, InboxEntry, Item, ThreadRecord, TurnRecord, TurnStatus, Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadCursor:
    """The last item and event sequence numbers of a thread, as its turn owner knows them."""

    last_item_seq: int
    last_event_seq: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BeginTurn:
    """Start a turn: store it with its first items and events, and make it the thread's active
    turn, all in one transaction. `expected` must equal the thread's stored cursor.

    If another turn is active: with `enqueue_if_busy` the input goes to the inbox instead,
    otherwise `TurnInProgressError`. A `client_key` already used on the thread returns what
    that first submission created and writes nothing.
    """

    turn: TurnRecord
    expected: ThreadCursor
    items: Sequence[Item] = ()
    events: Sequence[Event] = ()
    enqueue_if_busy: bool = False
    inbox_entry_id: str | None = None  # the inbox entry this turn consumes


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnStarted:
    turn: TurnRecord
    cursor: ThreadCursor
    items: tuple[Item, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Enqueued:
    entry: InboxEntry
    active_turn_id: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Duplicate:
    """The client key was seen before; these are the ids its first submission created."""

    turn: TurnRecord | None
    entry: InboxEntry | None


BeginOutcome = TurnStarted | Enqueued | Duplicate


_UNSET: Any = object()


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnWrite:
    """Everything one step of a turn changes, written in one transaction, fenced by the turn
    being the thread's active turn (a stale owner gets `LeaseLost`)."""

    thread_id: str
    turn_id: str
    cursor: ThreadCursor  # the thread's cursor after this write
    items: Sequence[Item] = ()
    events: Sequence[Event] = ()
    turn_status: TurnStatus | None = None
    usage: Usage | None = None
    steps: int | None = None
    error: dict[str, Any] | None = None
    thread_state: dict[str, Any] | None = field(default=_UNSET)
    release: bool = False  # the turn ends: the thread becomes idle

    @property
    def sets_state(self) -> bool:
        return self.thread_state is not _UNSET


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadPage:
    threads: list[ThreadRecord]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadUpdate:
    """Fields of a thread to change outside a turn. Unset fields are kept."""

    mode: str | None = _UNSET
    status: str = _UNSET
    state: dict[str, Any] | None = _UNSET
    metadata: dict[str, Any] = _UNSET

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ("mode", "status", "state", "metadata")
                if getattr(self, name) is not _UNSET}
