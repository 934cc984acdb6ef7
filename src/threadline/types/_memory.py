"""Observational memory as stored: observations that condense a thread's older history, and
how far each thread's history has been observed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

MemoryScope = Literal[
    "resource",  # shared by every thread of one resource (and one memory namespace)
    "thread",  # one thread's own
]
MEMORY_SCOPES: tuple[MemoryScope, ...] = ("resource", "thread")


@dataclass(frozen=True, kw_only=True, slots=True)
class Observation:
    """One dated observation: a fact an observer model condensed out of a thread's history.

    for observation in await app.memory("user-42").list():
        print(observation.observed_at, observation.text)
    """

    observation_id: str
    scope: MemoryScope
    owner: str  # the resource id, or the thread id for the thread scope
    namespace: str  # the memory agent id: agents sharing it share the observations
    text: str
    observed_at: float  # when the events it condenses happened (seconds since the epoch)
    created_at: float
    updated_at: float
    source_thread_id: str | None = None  # the thread it was observed in

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.observation_id,
            "scope": self.scope,
            "owner": self.owner,
            "namespace": self.namespace,
            "text": self.text,
            "observed_at": self.observed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "source_thread_id": self.source_thread_id,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadMemory:
    """A thread's memory bookkeeping: its namespace, and the last item seq its observations
    cover (raw history after it is what requests carry)."""

    thread_id: str
    namespace: str
    observed_through: int = 0
