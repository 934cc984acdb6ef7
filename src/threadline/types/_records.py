from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._usage import Usage

ThreadStatus = Literal[
    "idle",  # no turn running
    "active",  # a turn is running
    "awaiting_input",  # a turn is paused for a human
    "archived",  # kept, but hidden from default listings and closed to new input
]
TurnStatus = Literal[
    "queued",  # accepted, not started
    "running",  # owned by a process that is executing it
    "awaiting_approval",  # paused until a human decides
    "completed",  # the agent answered
    "failed",  # ended by an error or a budget
    "cancelled",  # interrupted
]
FINAL_TURN_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadRecord:
    """A thread as stored."""

    thread_id: str
    key: str | None = None
    user_id: str | None = None
    resource_id: str | None = None
    agent: str
    mode: str | None = None
    status: ThreadStatus = "idle"
    parent_id: str | None = None
    state: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    created_at: float
    updated_at: float
    active_turn_id: str | None = None
    last_item_seq: int = 0
    last_event_seq: int = 0
    turn_count: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnRecord:
    """A turn as stored. `usage` and `steps` are the budget counters."""

    turn_id: str
    thread_id: str
    number: int
    status: TurnStatus
    input: list[dict[str, Any]]
    sender: str | None = None
    client_key: str | None = None
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    error: dict[str, Any] | None = None
    created_at: float
    updated_at: float
    completed_at: float | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_TURN_STATUSES


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxEntry:
    """An input waiting for its own turn, in the thread's order."""

    entry_id: str
    thread_id: str
    position: int
    input: list[dict[str, Any]]
    sender: str | None = None
    client_key: str | None = None
    created_at: float
