"""What the stored items of a turn say about each tool call's human interactions."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from threadline.types import (
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    InputResponse,
    Item,
    Subagent,
    ToolResult,
    TurnRecord,
)

CALLER_APPROVALS = "require_approval"  # the turn option naming the tools its caller approves


def arguments_hash(arguments: str) -> str:
    return "sha256:" + hashlib.sha256(arguments.encode()).hexdigest()


@dataclass(kw_only=True)
class CallRecord:
    request: ApprovalRequest | None = None
    response: ApprovalResponse | None = None
    awaiting: AwaitingInput | None = None
    answer: InputResponse | None = None
    # The child threads the call waits for while they wait for a human: the latest `subagent`
    # item of each, by the child's thread id. The call's result ends every wait.
    waits: dict[str, Subagent] = field(default_factory=dict[str, Subagent])
    result: ToolResult | None = None


def call_records(items: Sequence[Item]) -> dict[str, CallRecord]:
    records: dict[str, CallRecord] = {}
    for item in items:
        payload = item.payload
        if isinstance(payload, ApprovalRequest):
            records.setdefault(payload.tool_call_id, CallRecord()).request = payload
        elif isinstance(payload, ApprovalResponse):
            records.setdefault(payload.tool_call_id, CallRecord()).response = payload
        elif isinstance(payload, AwaitingInput):
            records.setdefault(payload.tool_call_id, CallRecord()).awaiting = payload
        elif isinstance(payload, InputResponse):
            records.setdefault(payload.tool_call_id, CallRecord()).answer = payload
        elif isinstance(payload, Subagent):
            records.setdefault(payload.spawned_by, CallRecord()).waits[payload.thread_id] = payload
        elif isinstance(payload, ToolResult) and payload.tool_call_id in records:
            records[payload.tool_call_id].result = payload
    return records


def pending_requests(items: Sequence[Item]) -> list[ApprovalRequest | AwaitingInput]:
    """Approvals and choices of these items still waiting for a human."""
    pending: list[ApprovalRequest | AwaitingInput] = []
    for record in call_records(items).values():
        if record.request is not None and record.response is None:
            pending.append(record.request)
        if record.awaiting is not None and record.answer is None:
            pending.append(record.awaiting)
        if record.result is None:
            for wait in record.waits.values():
                pending.extend(wait.pending)
    return pending


def caller_approvals(turn: TurnRecord) -> frozenset[str]:
    """The tools whose calls the turn's caller asked to approve, on top of the agent's policy."""
    return frozenset(turn.options.get(CALLER_APPROVALS, []))
