"""The params of the events that the stored log can rebuild from the records it already holds.

The runtime emits these events with the functions below, and the store rebuilds them, when a
thread's log is read, with the same functions from the turn and item rows it stored: the two
cannot drift apart. The store keeps a reference instead of an event only when rebuilding it
gives back exactly what was emitted (see `threadline.store._event_log`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ._events import EventType
from ._items import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    InputResponse,
    Item,
    Payload,
    Plan,
    Reasoning,
    SystemEvent,
    ToolCall,
    ToolResult,
    payload_to_dict,
)
from ._usage import Usage


def turn_started_params(
    number: int, input: Sequence[Mapping[str, Any]], sender: str | None
) -> dict[str, Any]:
    return {"number": number, "input": input, "sender": sender}


def opening(payload: Payload) -> Payload:
    """What an item whose content streams (a model's message, reasoning or tool call) or is
    still being produced (a running tool's result) is announced with."""
    if isinstance(payload, AgentMessage):
        return AgentMessage(text="")
    if isinstance(payload, Reasoning):
        return Reasoning(text="")
    if isinstance(payload, ToolCall):
        return replace(payload, arguments="")
    if isinstance(payload, ToolResult):
        return ToolResult(
            tool_call_id=payload.tool_call_id,
            name=payload.name,
            output="",
            parent_call_id=payload.parent_call_id,
        )
    return payload


def item_started_params(item_id: str, payload: Payload, *, streams: bool) -> dict[str, Any]:
    """`streams`: the content follows (announced with `opening(payload)`), rather than being
    announced whole."""
    shown = opening(payload) if streams else payload
    return {
        "item": {
            "id": item_id,
            "type": payload.type,
            "status": "in_progress",
            "content": payload_to_dict(shown),
        }
    }


def item_completed_params(item: Item) -> dict[str, Any]:
    return {"item": item.to_dict()}


_DELTA_TYPES: dict[str, EventType] = {
    "agent_message": "agent_message_delta",
    "reasoning": "reasoning_delta",
    "tool_call": "tool_arguments_delta",
}


def delta_type(payload: Payload) -> EventType | None:
    """The type of the deltas that stream the item's content, if it streams."""
    return _DELTA_TYPES.get(payload.type)


def streamed_text(payload: Payload) -> str:
    """What the deltas of a completed item add up to."""
    if isinstance(payload, ToolCall):
        return payload.arguments
    if isinstance(payload, AgentMessage | Reasoning):
        return payload.text
    return ""


def delta_extra(payload: Payload) -> dict[str, Any]:
    """The params that every delta of the item carries besides its text."""
    if isinstance(payload, ToolCall):
        return {"tool_call_id": payload.tool_call_id}
    return {}


def delta_params(
    extra: Mapping[str, Any], delta: str, sizes: Sequence[int] | None = None
) -> dict[str, Any]:
    """A delta; or several consecutive ones of one item joined, as the log keeps them, with
    their lengths (`sizes`) so that a reader can cut them back as they were streamed."""
    params: dict[str, Any] = {**extra, "delta": delta} if extra else {"delta": delta}
    if sizes is not None and len(sizes) > 1:
        params["sizes"] = list(sizes)
    return params


def usage_delta_params(usage: Usage, total: Usage, phase: str | None = None) -> dict[str, Any]:
    """One model call's usage and the turn's total so far (`phase`: what the call was for,
    when it was not a step of the turn)."""
    params: dict[str, Any] = {"usage": usage.to_dict(), "total": total.to_dict()}
    if phase is not None:
        params["phase"] = phase
    return params


def approval_requested_params(payload: ApprovalRequest | AwaitingInput) -> dict[str, Any]:
    """What a paused turn waits for: a human's approval of a call, or their answer to a
    tool's question; `thread_id` names the child thread that holds it, if one does."""
    if isinstance(payload, AwaitingInput):
        params: dict[str, Any] = {
            "kind": "input",
            "tool_call_id": payload.tool_call_id,
            "prompt": payload.prompt,
            "schema": payload.schema,
        }
    else:
        params = {
            "kind": "approval",
            "tool_call_id": payload.tool_call_id,
            "name": payload.name,
            "arguments": payload.arguments,
            "reason": payload.reason,
            "expires_at": payload.expires_at,
        }
    if payload.thread_id is not None:
        params["thread_id"] = payload.thread_id
    return params


def approval_resolved_params(
    payload: ApprovalResponse | InputResponse, *, expired: bool = False
) -> dict[str, Any]:
    """A human's decision or answer; `expired`: the approval request expired unanswered."""
    if isinstance(payload, InputResponse):
        return {"tool_call_id": payload.tool_call_id, "kind": "input", "value": payload.value}
    if expired:
        return {
            "tool_call_id": payload.tool_call_id,
            "decision": payload.decision,
            "reason": payload.reason,
            "expired": True,
        }
    return {
        "tool_call_id": payload.tool_call_id,
        "decision": payload.decision,
        "reason": payload.reason,
        "always": payload.always,
        "expired": False,
    }


def system_event_params(payload: SystemEvent) -> dict[str, Any]:
    return payload_to_dict(payload)


def completed_params(text: str, output: Any, usage: Usage) -> dict[str, Any]:
    return {"status": "completed", "text": text, "output": output, "usage": usage.to_dict()}


def failed_params(error: Mapping[str, Any] | None, usage: Usage) -> dict[str, Any]:
    return {"status": "failed", "error": error, "usage": usage.to_dict()}


def cancelled_params(reason: str, usage: Usage) -> dict[str, Any]:
    return {"status": "cancelled", "reason": reason, "usage": usage.to_dict()}


def plan_updated_params(plan: Plan) -> dict[str, Any]:
    """The plan as a `plan_updated` event carries it: every step with its status, and the
    explanation given with the update (the event's `item_id` is the stored `plan` item)."""
    return {
        "plan": [{"step": s.step, "status": s.status} for s in plan.steps],
        "explanation": plan.explanation,
    }
