from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._usage import Usage

ThreadStatus = Literal[
    "idle",  # no turn running
    "active",  # a turn is running
    "awaiting_input",  # a turn is paused for a human
    "archived",  # kept, but hidden from default listings and closed to new input
    "terminated",  # ended for good (`terminate`): refuses every input; cannot be reopened
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
    # A child thread's name within its parent (`spawn(reference_id=...)`), unique there, and
    # the parent's turn that started it.
    reference_id: str | None = None
    parent_turn_id: str | None = None
    state: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
    created_at: float
    updated_at: float
    active_turn_id: str | None = None  # the unfinished turn (running or paused), if any
    last_item_seq: int = 0
    last_event_seq: int = 0
    turn_count: int = 0
    lease_owner: str | None = None  # the process executing the active turn right now
    lease_epoch: int = 0  # fencing token: grows by one with every lease taken
    lease_expires_at: float | None = None  # database time
    wake_at: float | None = None  # when recovery should look at this paused thread

    def to_dict(self) -> dict[str, Any]:
        """The thread as JSON-ready data (lease bookkeeping left out)."""
        return {
            "id": self.thread_id,
            "key": self.key,
            "user_id": self.user_id,
            "resource_id": self.resource_id,
            "agent": self.agent,
            "mode": self.mode,
            "status": self.status,
            "parent_id": self.parent_id,
            "reference_id": self.reference_id,
            "state": self.state,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "active_turn_id": self.active_turn_id,
            "turn_count": self.turn_count,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnRecord:
    """A turn as stored. `usage`, `steps` and `running_seconds` are the budget counters."""

    turn_id: str
    thread_id: str
    number: int
    status: TurnStatus
    input: list[dict[str, Any]]
    sender: str | None = None
    client_key: str | None = None
    usage: Usage = field(default_factory=Usage)
    steps: int = 0
    running_seconds: float = 0.0  # time it ran, summed over its segments (not the waits)
    error: dict[str, Any] | None = None
    created_at: float
    updated_at: float
    completed_at: float | None = None
    cancel_requested: bool = False
    options: dict[str, Any] = field(default_factory=dict[str, Any])  # per-run settings
    # that a resumed turn needs: "budget", "external_tools", "settings"; and the caller's
    # "annotations"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_TURN_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The turn as JSON-ready data."""
        return {
            "id": self.turn_id,
            "thread_id": self.thread_id,
            "number": self.number,
            "status": self.status,
            "input": self.input,
            "sender": self.sender,
            "client_key": self.client_key,
            "usage": self.usage.to_dict(),
            "steps": self.steps,
            "running_seconds": self.running_seconds,
            "error": self.error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "completed_at": self.completed_at,
        }


InboxKind = Literal[
    "input",  # starts its own turn when the thread is free
    "steer",  # joins the running turn before its next model step
    "tool_call",  # starts a turn whose first step is this tool call (a scheduled effect)
]


@dataclass(frozen=True, kw_only=True, slots=True)
class InboxEntry:
    """An input waiting for its turn, in the thread's order."""

    entry_id: str
    thread_id: str
    position: int
    input: list[dict[str, Any]]  # input parts; for "tool_call": [{"name", "arguments"}]
    sender: str | None = None
    client_key: str | None = None
    created_at: float
    kind: InboxKind = "input"


TimerStatus = Literal["pending", "fired", "cancelled"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TimerRecord:
    """A scheduled effect: at `due_at` its input (or tool call) goes to the thread's inbox."""

    timer_id: str
    thread_id: str
    due_at: float
    kind: Literal["input", "tool_call"]
    input: list[dict[str, Any]]
    status: TimerStatus = "pending"
    created_at: float
    fired_at: float | None = None
