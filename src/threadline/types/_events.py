from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EventType = Literal[
    "turn_started",
    "item_started",
    "agent_message_delta",
    "reasoning_delta",
    "tool_arguments_delta",
    "item_completed",
    "approval_requested",
    "approval_resolved",
    "usage_delta",
    "plan_updated",
    "subagent_progress",
    "system_event",
    "completed",
    "failed",
    "cancelled",
    "raw",
]
DELTA_EVENT_TYPES: frozenset[str] = frozenset(
    {"agent_message_delta", "reasoning_delta", "tool_arguments_delta"}
)
TERMINAL_EVENT_TYPES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One normalized event of a thread.

    `seq` is per thread and gap-free in the stored log. Consecutive deltas of one item share a
    `seq`: the log stores them as a single coalesced delta, so replaying from any `seq` yields
    what the live stream delivered after it. A coalesced delta that joins several lists their
    lengths in `params["sizes"]`, so that wire adapters can number them as they were streamed.

    `raw` keeps the original notification, so nothing is lost: for a model delta streamed live,
    the provider's own event (`original`); otherwise (and for every event read back from the
    log, which does not store provider payloads) the event's wire form, `to_dict()`, built
    when it is read.
    """

    type: EventType
    thread_id: str
    turn_id: str | None
    item_id: str | None
    seq: int
    params: Mapping[str, Any] = field(default_factory=dict[str, Any])
    original: Any = field(default=None, compare=False)  # the provider's event, if any

    @property
    def raw(self) -> Any:
        """The provider's own event, else this event's wire form."""
        return self.original if self.original is not None else self.to_dict()

    @property
    def is_delta(self) -> bool:
        return self.type in DELTA_EVENT_TYPES

    @property
    def is_terminal(self) -> bool:
        return self.type in TERMINAL_EVENT_TYPES

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "seq": self.seq,
            "thread_id": self.thread_id,
            "turn_id": self.turn_id,
            "item_id": self.item_id,
            "params": dict(self.params),
        }
