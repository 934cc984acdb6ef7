from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    AwaitingInput,
    Item,
    ToolCall,
    TurnRecord,
    Usage,
)

from ._context import SUBAGENT_USAGE

if TYPE_CHECKING:
    from ._context import TurnContext

ResultStatus = Literal["completed", "failed", "cancelled", "paused"]


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    """What a turn produced. `text` is the final answer, `output` the validated structured
    answer (when the agent has an `output_type`), `items` every item the turn stored.
    A paused turn (`status == "paused"`) lists what it waits for in `pending_approvals` and
    `pending_input`."""

    thread_id: str
    turn_id: str
    status: ResultStatus
    text: str
    items: list[Item]
    usage: Usage
    output: Any
    turn: TurnRecord

    @property
    def subagent_usage(self) -> Usage:
        """The tokens and cost of the child threads this turn waited for (or saw end), their
        own children's included; `usage` is the turn's own."""
        return Usage.from_dict(self.turn.options.get(SUBAGENT_USAGE))

    @property
    def pending_approvals(self) -> list[ApprovalRequest]:
        from ._approvals import pending_requests

        return [p for p in pending_requests(self.items) if isinstance(p, ApprovalRequest)]

    @property
    def pending_external_calls(self) -> list[ToolCall]:
        """Client-side tool calls (`external_tools=`) whose results the turn waits for."""
        from ._decisions import external_calls
        from ._engine_parts import external_tools

        return (
            external_calls(self.items, external_tools(self.turn))
            if (self.status == "paused")
            else []
        )

    @property
    def pending_input(self) -> AwaitingInput | None:
        from ._approvals import pending_requests

        waiting = [p for p in pending_requests(self.items) if isinstance(p, AwaitingInput)]
        return waiting[0] if waiting else None

    @classmethod
    def from_context(cls, ctx: TurnContext) -> TurnResult:
        return cls.build(ctx.turn, ctx.turn_items(), ctx.output)

    @classmethod
    def build(cls, turn: TurnRecord, items: list[Item], output: Any) -> TurnResult:
        text = ""
        for item in reversed(items):
            if isinstance(item.payload, AgentMessage) and item.status == "completed":
                text = item.payload.text
                break
        status = turn.status
        return cls(
            thread_id=turn.thread_id,
            turn_id=turn.turn_id,
            status=status if status in ("completed", "failed", "cancelled") else "paused",
            text=text,
            items=items,
            usage=turn.usage,
            output=output,
            turn=turn,
        )
