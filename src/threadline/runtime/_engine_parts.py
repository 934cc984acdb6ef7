"""The engine's vocabulary: its settings, the turns it runs, and how a start went."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from threadline.models import ToolSpec
from threadline.tools import DEFAULT_FILE_QUOTA_BYTES
from threadline.types import Budget, Event, Payload, TurnRecord

from ._approvals import CALLER_APPROVALS
from ._bus import Channel, EventBus
from ._context import TurnContext
from ._result import TurnResult
from ._subagent_limits import SubagentLimits
from ._tracing import Tracing
from ._turn_settings import TurnSettings

OnBusy = Literal["error", "enqueue", "interrupt", "steer"]


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    lease_seconds: float = 30.0
    history_cache_threads: int = 128
    recovery_interval: float | None = None
    shutdown_grace: float = 5.0
    run_turns: bool = True  # False: store turns for workers, follow them from the event log
    poll_interval: float = 0.05  # how often a follower looks at the event log
    file_quota_bytes: int | None = DEFAULT_FILE_QUOTA_BYTES  # each thread's files, at most
    subagent_limits: SubagentLimits = field(default_factory=SubagentLimits)
    tracing: Tracing = field(default_factory=lambda: Tracing(enabled=False))


class TurnListener(Channel):
    """The channel of whoever started a turn; `active` is set once the turn runs."""

    def __init__(self) -> None:
        super().__init__(None)
        self.active: ActiveTurn | None = None
        self.fed = False  # a running turn or a follower of the event log feeds it


class ActiveTurn:
    def __init__(self, thread_id: str, turn_id: str, epoch: int, bus: EventBus) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self.epoch = epoch
        self.task: asyncio.Task[TurnResult] | None = None
        self.context: TurnContext | None = None
        self.listeners: list[TurnListener] = []
        self._bus = bus

    def publish(self, event: Event) -> None:
        for listener in self.listeners:
            listener.push(event)
        self._bus.publish(event)

    def attach(self, listener: TurnListener) -> None:
        self.listeners.append(listener)
        listener.active = self
        listener.fed = True

    @property
    def ending(self) -> bool:
        """The turn's last write (which frees its lease) is submitted or done."""
        return self.context is not None and self.context.ending

    def lose_lease(self) -> None:
        if self.context is not None:
            self.context.lease_lost = True
        if self.task is not None:
            self.task.cancel()


DEFINITION_ENV = "env"  # the turn option that holds a thread definition's env


@dataclass(frozen=True, kw_only=True)
class StartOptions:
    sender: str | None = None
    client_key: str | None = None
    on_busy: OnBusy = "error"
    budget: Budget | None = None
    external_tools: Sequence[ToolSpec] = ()
    require_approval: frozenset[str] = frozenset()
    settings: TurnSettings = field(default_factory=TurnSettings)
    annotations: Mapping[str, Any] | None = None  # the caller's own data about the turn,
    # stored with it (`turn.options["annotations"]`); the runtime never reads it
    history: Sequence[Payload] = ()  # stored before the input (see `_imports`), not with the turn
    env: Mapping[str, Any] | None = None  # a thread definition's env (JSON), for every step

    def turn_options(self) -> dict[str, Any]:
        """What a resumed turn must know of these options, stored with the turn."""
        options: dict[str, Any] = {}
        settings = self.settings.to_dict()
        if settings:
            options["settings"] = settings
        if self.annotations:
            options["annotations"] = dict(self.annotations)
        if self.budget is not None:
            options["budget"] = self.budget.to_dict()
        if self.external_tools:
            options["external_tools"] = [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in self.external_tools
            ]
        if self.require_approval:
            options[CALLER_APPROVALS] = sorted(self.require_approval)
        if self.env is not None:
            options[DEFINITION_ENV] = dict(self.env)
        return options


@dataclass(frozen=True, kw_only=True)
class StartOutcome:
    """How a submission was taken: started now, queued, joined to the running turn (steer),
    or a repeat of an earlier submission with the same client key."""

    kind: Literal["started", "stored", "enqueued", "steered", "duplicate"]
    turn_id: str | None
    entry_id: str | None = None
    duplicate_turn: TurnRecord | None = None


def external_tools(turn: TurnRecord) -> dict[str, ToolSpec]:
    """The client-side tools a turn was started with."""
    return {spec["name"]: ToolSpec(**spec) for spec in turn.options.get("external_tools", [])}


def turn_settings(turn: TurnRecord) -> TurnSettings:
    """The model settings a turn was started with, on top of its agent's."""
    return TurnSettings.from_dict(turn.options.get("settings"))


def turn_id_for_entry(entry_id: str) -> str:
    """The id of the turn an inbox entry becomes, known before it starts, in any process."""
    return "turn_" + entry_id.split("_", 1)[1]
