"""A thread's items as the entries of its transcript: who spoke, what was called with which
arguments and what came back, what waits for a human. Everything here is plain text; the
templates escape it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    ErrorPayload,
    FilePart,
    ImagePart,
    InputResponse,
    Item,
    Plan,
    Reasoning,
    Subagent,
    SystemEvent,
    ToolCall,
    ToolResult,
    UserMessage,
)


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One line of the transcript."""

    item_id: str
    seq: int
    turn_id: str | None
    kind: str  # the item's type: a CSS class and a label
    title: str
    text: str = ""
    detail: str = ""  # arguments, output or data, shown preformatted
    files: tuple[str, ...] = ()
    child_thread_id: str | None = None  # a subagent's thread
    waiting: bool = False  # an approval or a choice that no one has answered yet


def transcript(items: Sequence[Item], waiting_call_ids: set[str]) -> list[Entry]:
    """The entries of `items`, in order; `waiting_call_ids` are the calls a human is asked
    about now."""
    return [_entry(item, waiting_call_ids) for item in items]


def _entry(item: Item, waiting: set[str]) -> Entry:
    shown = _shown(item, waiting)
    return Entry(
        item_id=item.item_id,
        seq=item.seq,
        turn_id=item.turn_id,
        kind=item.type,
        title=shown.title,
        text=shown.text,
        detail=shown.detail,
        files=shown.files,
        child_thread_id=shown.child_thread_id,
        waiting=shown.waiting,
    )


@dataclass(frozen=True, kw_only=True)
class _Shown:
    title: str
    text: str = ""
    detail: str = ""
    files: tuple[str, ...] = ()
    child_thread_id: str | None = None
    waiting: bool = False


def _shown(item: Item, waiting: set[str]) -> _Shown:
    payload = item.payload
    if isinstance(payload, UserMessage):
        files = tuple(
            part.filename or part.file_id if isinstance(part, FilePart) else part.url
            for part in payload.content
            if isinstance(part, FilePart | ImagePart)
        )
        return _Shown(title=payload.sender or "user", text=item.text, files=files)
    if isinstance(payload, AgentMessage):
        return _Shown(title="agent", text=payload.text)
    if isinstance(payload, Reasoning):
        return _Shown(title="reasoning", text=payload.text)
    if isinstance(payload, ToolCall):
        return _Shown(title=f"call {payload.name}", detail=payload.arguments)
    if isinstance(payload, ToolResult):
        return _Shown(title=f"result of {payload.name} ({payload.outcome})", detail=payload.output)
    if isinstance(payload, ApprovalRequest):
        return _Shown(
            title=f"approval asked for {payload.name}",
            text=payload.reason or "",
            detail=payload.arguments,
            waiting=payload.tool_call_id in waiting,
        )
    if isinstance(payload, ApprovalResponse):
        return _Shown(title=f"approval {payload.decision}", text=payload.reason or "")
    if isinstance(payload, AwaitingInput):
        return _Shown(
            title="choice asked",
            text=payload.prompt,
            detail=json.dumps(payload.schema, indent=2),
            waiting=payload.tool_call_id in waiting,
        )
    if isinstance(payload, InputResponse):
        return _Shown(title="choice answered", text=repr(payload.value))
    if isinstance(payload, Subagent):
        return _Shown(
            title=f"subagent {payload.reference_id} ({payload.agent})",
            child_thread_id=payload.thread_id,
        )
    if isinstance(payload, Plan):
        steps = "\n".join(f"[{step.status}] {step.step}" for step in payload.steps)
        return _Shown(title="plan", text=payload.explanation or "", detail=steps)
    if isinstance(payload, SystemEvent):
        return _Shown(title=f"system: {payload.phase}", text=payload.message)
    if isinstance(payload, ErrorPayload):
        return _Shown(title=f"error {payload.code}", text=payload.message)
    return _Shown(title=item.type)
