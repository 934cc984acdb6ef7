"""Asking the person at the terminal what a paused turn waits for."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console

from threadline import ApprovalRequest, AwaitingInput, Thread, ThreadlineError, TurnResult
from threadline.types import ToolCall

from ._render import tool_call_text

Reader = Callable[[str], "str | None"]
_YES = frozenset({"y", "yes"})
_ALWAYS = frozenset({"a", "always"})


async def answer_pending(thread: Thread, result: TurnResult, read: Reader, err: Console) -> bool:
    """Ask about every approval and choice the paused turn waits for and record the answers.
    False if the person left (end of input) before answering everything."""
    for request in result.pending_approvals:
        line = read(_approval_question(request))
        if line is None:
            return False
        decision = line.strip().lower()
        if decision in _YES or decision in _ALWAYS:
            await thread.approve(request.tool_call_id, always=decision in _ALWAYS)
        else:
            await thread.deny(request.tool_call_id, reason="denied at the terminal")
    waiting = result.pending_input
    while waiting is not None:
        line = read(f"{waiting.prompt} {_schema_hint(waiting)} ")
        if line is None:
            return False
        try:
            await thread.answer(_parse_answer(line))
            waiting = None
        except ThreadlineError as exc:
            err.print(f"not accepted: {exc.message}", style="yellow", markup=False)
    return True


def pending_lines(pending: Sequence[ApprovalRequest | AwaitingInput | ToolCall]) -> list[str]:
    """One line per request a paused turn waits for, as `threads show` lists them."""
    lines: list[str] = []
    for request in pending:
        if isinstance(request, ApprovalRequest | ToolCall):
            call = tool_call_text({"name": request.name, "arguments": request.arguments})
            kind = "approval" if isinstance(request, ApprovalRequest) else "client tool"
            line = f"{kind} {request.tool_call_id}: {call.removeprefix('→ ')}"
        else:
            line = f"choice {request.tool_call_id}: {request.prompt} {_schema_hint(request)}"
        child = None if isinstance(request, ToolCall) else request.thread_id
        lines.append(line if child is None else f"{line} (in subagent thread {child})")
    return lines


def _approval_question(request: ApprovalRequest) -> str:
    call = tool_call_text({"name": request.name, "arguments": request.arguments})
    return f"Allow {call.removeprefix('→ ')}? [y]es / [n]o / [a]lways: "


def _schema_hint(request: AwaitingInput) -> str:
    properties = request.schema.get("properties")
    if isinstance(properties, dict) and properties:
        return "(JSON with " + ", ".join(sorted(properties)) + ")"
    return "(JSON or text)"


def _parse_answer(line: str) -> Any:
    text = line.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
