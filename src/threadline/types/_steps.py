from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ._usage import Usage

StepKind = Literal[
    "model",  # one model call and the items it produced
    "tools",  # one batch of tool calls executed together
]
StepStatus = Literal[
    "completed",  # its items are stored
    "paused",  # a tool batch waiting for a human (approval, choice) or a caller's result
    "failed",  # its turn failed while it ran, or refused what it produced
    "cancelled",  # its turn was interrupted while it ran or waited
]


@dataclass(frozen=True, kw_only=True, slots=True)
class StepRecord:
    """One model call or one tool batch of a turn, as stored with the step's items.

    `number` counts the turn's steps from 0. `ended_at` is None while a tool batch is paused;
    `usage` is what the step spent (a tool batch: what the child threads it waited for spent);
    `item_ids` are the items it produced, in order; `data` names the model (`{"model": ...}`)
    or the tools called (`{"tools": [...]}`).
    """

    step_id: str
    thread_id: str
    turn_id: str
    number: int
    kind: StepKind
    status: StepStatus
    started_at: float
    ended_at: float | None = None
    usage: Usage = field(default_factory=Usage)
    item_ids: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict[str, Any])

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON-ready data."""
        return {
            "id": self.step_id,
            "thread_id": self.thread_id,
            "turn_id": self.turn_id,
            "number": self.number,
            "kind": self.kind,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "usage": self.usage.to_dict(),
            "item_ids": list(self.item_ids),
            "data": self.data,
        }
