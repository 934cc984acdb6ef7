from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from threadline._redaction import redact
from threadline.store import ToolCallState
from threadline.types import (
    ContentPart,
    InvalidInputError,
    Payload,
    TimerRecord,
    ToolCall,
    UserMessage,
    new_id,
)

from ._input import TurnInput, normalize_input, parts_as_json


@dataclass(frozen=True, kw_only=True)
class ScheduledCall:
    """A tool call to make on a thread later: its turn starts with this call."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])


def timer_for(
    thread_id: str, effect: TurnInput | ScheduledCall, *, at: float | None, delay: float | None
) -> TimerRecord:
    """A timer record for `effect`, due at `at` (epoch seconds) or after `delay` seconds."""
    if (at is None) == (delay is None):
        raise InvalidInputError("give exactly one of at= or delay=")
    if delay is not None and delay < 0:
        raise InvalidInputError("delay must not be negative")
    due_at = at if at is not None else time.time() + (delay or 0.0)
    now = time.time()
    if isinstance(effect, ScheduledCall):
        try:
            arguments = redact(orjson.dumps(effect.arguments).decode())
        except TypeError as exc:
            raise InvalidInputError(f"the call's arguments are not JSON: {exc}") from None
        return TimerRecord(
            timer_id=new_id("timer"),
            thread_id=thread_id,
            due_at=due_at,
            kind="tool_call",
            input=[{"name": effect.name, "arguments": arguments}],
            created_at=now,
        )
    parts, _ = normalize_input(effect, None)
    return TimerRecord(
        timer_id=new_id("timer"),
        thread_id=thread_id,
        due_at=due_at,
        kind="input",
        input=parts_as_json(parts),
        created_at=now,
    )


def first_input(
    parts: tuple[ContentPart, ...] | ScheduledCall | None, sender: str | None
) -> tuple[list[dict[str, Any]], Payload | None, dict[str, ToolCallState]]:
    """What a turn that starts with `parts` stores: its input, its first item's payload (a
    user message, or the call a scheduled call makes) and that call's state."""
    if isinstance(parts, ScheduledCall):
        call = ToolCall(
            tool_call_id=new_id("call"),
            name=parts.name,
            arguments=orjson.dumps(parts.arguments).decode(),
        )
        input_json = [{"type": "tool_call", "name": parts.name, "arguments": parts.arguments}]
        return input_json, call, {call.tool_call_id: "requested"}
    if parts is None:
        return [], None, {}
    return parts_as_json(parts), UserMessage(content=parts, sender=sender), {}
