"""What the runner-shaped APIs (`tl.run_agent`, `app.chat`) return: a result whose status says
how the run ended instead of an exception, and envelopes that carry a stream's events and then
its result."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from threadline.types import (
    ApprovalRequest,
    AwaitingInput,
    Event,
    Item,
    TurnCancelledError,
    TurnFailedError,
    Usage,
)

from ._result import TurnResult

if TYPE_CHECKING:
    from ._checkpoint import Checkpoint
    from ._stream import TurnStream

AgentStatus = Literal["completed", "paused", "errored", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class AgentResult:
    """How a run ended. Runners report failures here rather than raising: `status` is
    `"errored"` for a budget overrun, a model error or an invalid answer (`error` holds its
    `code` and `message`), `"cancelled"` when it was interrupted, `"paused"` when it waits for
    a human (`pending_approvals`, `pending_input`; `checkpoint` resumes a stateless run).

        result = await tl.run_agent(agent, "Hello")
        if result.status == "completed": print(result.text)
    """

    status: AgentStatus
    text: str
    output: Any
    items: list[Item]
    usage: Usage
    error: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None
    thread_id: str
    turn_id: str

    @property
    def pending_approvals(self) -> list[ApprovalRequest]:
        from ._approvals import pending_requests

        if self.status != "paused":
            return []
        return [p for p in pending_requests(self.items) if isinstance(p, ApprovalRequest)]

    @property
    def pending_input(self) -> AwaitingInput | None:
        from ._approvals import pending_requests

        if self.status != "paused":
            return None
        waiting = [p for p in pending_requests(self.items) if isinstance(p, AwaitingInput)]
        return waiting[0] if waiting else None

    @classmethod
    def from_turn(cls, result: TurnResult, checkpoint: Checkpoint | None = None) -> AgentResult:
        status: AgentStatus = "errored" if result.status == "failed" else result.status
        return cls(
            status=status,
            text=result.text,
            output=result.output,
            items=result.items,
            usage=result.usage,
            error=result.turn.error if status in ("errored", "cancelled") else None,
            checkpoint=checkpoint,
            thread_id=result.thread_id,
            turn_id=result.turn_id,
        )


@dataclass(frozen=True, kw_only=True)
class RunEnvelope:
    """One element of a runner's stream: an `event` as it happens (`type == "event"`), then
    exactly one `result` (`type == "result"`) as the last element."""

    type: Literal["event", "result"]
    event: Event | None = None
    result: AgentResult | None = None


async def ended(stream: TurnStream) -> TurnResult:
    """The turn's result once `stream` is consumed, whether it completed, paused, failed or
    was cancelled (the failure is the result's status, not an exception)."""
    try:
        async for _ in stream:
            pass
    except (TurnFailedError, TurnCancelledError):
        pass  # the stream stored its result before raising
    return stream.result


async def envelopes(stream: TurnStream) -> AsyncGenerator[RunEnvelope]:
    """`stream`'s events, each in an envelope, then its `TurnResult` as an `AgentResult`
    (without a checkpoint: the caller adds one where it has a store to snapshot)."""
    try:
        async for event in stream:
            yield RunEnvelope(type="event", event=event)
    except (TurnFailedError, TurnCancelledError):
        pass  # after `failed` or `cancelled`, which the stream yielded; the result says more
    yield RunEnvelope(type="result", result=AgentResult.from_turn(stream.result))
