"""What the MCP tools answer: a turn's outcome (its answer as text, its ids and status as
structured content), a page of data as JSON, or an error the calling model can read."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import orjson

from threadline import TurnResult
from threadline.types import ApprovalRequest, AwaitingInput

from ._questions import Questions

ANSWER_APPROVAL = "answer_approval"
ANSWER_INPUT = "answer_input"

PENDING_APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tool_call_id": {"type": "string", "description": "Pass it to answer_approval."},
        "tool": {"type": "string", "description": "The tool the agent wants to call."},
        "arguments": {"type": "string", "description": "The call's arguments, as JSON."},
        "thread_id": {
            "type": "string",
            "description": "The thread whose turn asks (a subagent's, or the thread itself).",
        },
    },
    "required": ["tool_call_id", "tool", "arguments", "thread_id"],
}

TURN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "thread_id": {"type": "string", "description": "Pass it back to continue the thread."},
        "turn_id": {"type": "string"},
        "status": {"type": "string", "enum": ["completed", "paused", "failed", "cancelled"]},
        "text": {"type": "string", "description": "The agent's answer."},
        "pending_approvals": {"type": "array", "items": PENDING_APPROVAL_SCHEMA},
        "pending_input": {
            "type": ["object", "null"],
            "description": "A question a tool of the agent waits to have answered: its "
            f"prompt, and the JSON schema of the answer to give {ANSWER_INPUT}.",
            "properties": {
                "prompt": {"type": "string"},
                "schema": {"type": "object"},
                "thread_id": {"type": "string"},
            },
        },
        "error": {
            "type": ["object", "null"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
    },
    "required": ["thread_id", "turn_id", "status", "text", "pending_approvals"],
}


def turn_result(result: TurnResult, waiting: Questions | None) -> types.CallToolResult:
    """A turn's outcome: its answer, what it waits for if it paused, why it failed."""
    pending = [] if waiting is None else waiting.approvals
    approvals = [pending_approval(p, result.thread_id) for p in pending]
    asked = None if waiting is None else waiting.choice
    error = result.turn.error if result.status == "failed" else None
    structured: dict[str, Any] = {
        "thread_id": result.thread_id,
        "turn_id": result.turn_id,
        "status": result.status,
        "text": result.text,
        "pending_approvals": approvals,
        "pending_input": pending_input(asked, result.thread_id),
        "error": None
        if error is None
        else {"code": str(error.get("code", "")), "message": str(error.get("message", ""))},
    }
    text = _turn_text(result, approvals, asked, error)
    return types.CallToolResult(
        content=[
            types.TextContent(text=text),
            types.TextContent(
                text=f"thread_id: {result.thread_id} (pass it as thread_id to continue the thread)"
            ),
        ],
        structured_content=structured,
        is_error=result.status in ("failed", "cancelled"),
    )


def data_result(data: dict[str, Any]) -> types.CallToolResult:
    """Structured data, with its JSON as the text for clients that read only text."""
    return types.CallToolResult(
        content=[types.TextContent(text=orjson.dumps(data).decode())],
        structured_content=data,
    )


def error_result(message: str) -> types.CallToolResult:
    """A call that could not be carried out, said so that the calling model can correct it."""
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def pending_approval(request: ApprovalRequest, thread_id: str) -> dict[str, Any]:
    return {
        "tool_call_id": request.tool_call_id,
        "tool": request.name,
        "arguments": request.arguments,
        "thread_id": request.thread_id or thread_id,
    }


def pending_input(asked: AwaitingInput | None, thread_id: str) -> dict[str, Any] | None:
    if asked is None:
        return None
    return {
        "prompt": asked.prompt,
        "schema": asked.schema,
        "thread_id": asked.thread_id or thread_id,
    }


def _turn_text(
    result: TurnResult,
    approvals: list[dict[str, Any]],
    asked: AwaitingInput | None,
    error: dict[str, Any] | None,
) -> str:
    if result.status == "completed":
        return result.text
    if result.status == "failed":
        found = error or {}
        return f"The turn failed ({found.get('code', 'error')}): {found.get('message', '')}"
    if result.status == "cancelled":
        return "The turn was cancelled before it ended."
    lines = [result.text] if result.text else []
    for approval in approvals:
        lines.append(
            f"The turn is paused: the agent wants to call {approval['tool']} with "
            f"{approval['arguments']} and waits for a person to approve it. Answer with "
            f"{ANSWER_APPROVAL}(thread_id={result.thread_id!r}, "
            f"tool_call_id={approval['tool_call_id']!r}, decision='approve' or 'deny')."
        )
    if asked is not None:
        lines.append(
            f"The turn is paused: a tool asks {asked.prompt!r} and waits for the answer, a "
            f"JSON value of the schema {orjson.dumps(asked.schema).decode()}. Answer with "
            f"{ANSWER_INPUT}(thread_id={result.thread_id!r}, answer=<the value>)."
        )
    return "\n".join(lines) or "The turn is paused."
