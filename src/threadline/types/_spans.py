from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SpanStatus = Literal[
    "unset",  # still open, or ended with nothing to say
    "ok",
    "error",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpanEvent:
    """Something that happened at one moment inside a span."""

    name: str
    at: float
    attributes: dict[str, Any] = field(default_factory=dict[str, Any])

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data."""
        return {"name": self.name, "at": self.at, "attributes": self.attributes}


@dataclass(frozen=True, kw_only=True, slots=True)
class SpanRecord:
    """One traced step of a turn: its run, a process's execution of it (stored as such),
    or a span derived from its steps and items, under an id derived from what it is of.

    `trace_id` (32 hex digits) is the turn's, kept with the turn across processes;
    `span_id` and `parent_id` are 16 hex digits (`parent_id` is None for the turn's
    `thread.run` span). `end` is None while the span is open (a turn paused, or a process
    that stopped before it could end it). `attributes` follow OpenTelemetry's GenAI
    conventions (`gen_ai.*`) where they apply.
    """

    span_id: str
    parent_id: str | None
    trace_id: str
    thread_id: str
    turn_id: str
    name: str
    start: float
    end: float | None = None
    status: SpanStatus = "unset"
    attributes: dict[str, Any] = field(default_factory=dict[str, Any])
    events: tuple[SpanEvent, ...] = ()

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while open."""
        return None if self.end is None else self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """The span as JSON-ready data."""
        return {
            "span_id": self.span_id,
            "parent_id": self.parent_id,
            "trace_id": self.trace_id,
            "thread_id": self.thread_id,
            "turn_id": self.turn_id,
            "name": self.name,
            "start": self.start,
            "end": self.end,
            "status": self.status,
            "attributes": self.attributes,
            "events": [e.to_dict() for e in self.events],
        }
