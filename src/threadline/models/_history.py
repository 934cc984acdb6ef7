"""The thread's history as the Responses and Messages APIs see it: inputs, tool results and
assistant steps, each step with the reasoning state its provider needs back.

A reasoning model's step is (reasoning, text, tool calls), stored as separate items. Both
providers want the step's reasoning returned unchanged and in its original place: OpenAI pairs
each reasoning item with the item that follows it by id, Anthropic checks the signature of each
thinking block and its order among the step's blocks. So the step's `Reasoning` item keeps a
*skeleton* of the step (see `reasoning_data`), and the request builders put the step's text and
calls back into it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from threadline.types import (
    MODEL_VISIBLE_PHASES,
    AgentMessage,
    Item,
    Payload,
    Reasoning,
    SystemEvent,
    ToolCall,
    ToolResult,
    UserMessage,
)

from ._protocol import ModelResponse

Provider = Literal["openai_responses", "anthropic"]
OPENAI_RESPONSES: Provider = "openai_responses"
ANTHROPIC: Provider = "anthropic"


@dataclass(slots=True)
class AssistantStep:
    """One model step of the history: its skeleton (empty if the provider gave none or the
    step came from another provider), its text and its tool calls."""

    turn_id: str | None
    skeleton: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    text: str | None = None
    calls: list[ToolCall] = field(default_factory=list[ToolCall])


Segment = UserMessage | ToolResult | SystemEvent | AssistantStep


def history_segments(items: Sequence[Item], provider: Provider) -> list[Segment]:
    """The items a model should read, with each step's items gathered into one
    `AssistantStep`. Items that did not complete are left out, except tool results, which
    every call needs; reasoning, errors and events other than repairs are for people."""
    segments: list[Segment] = []
    step: AssistantStep | None = None
    for item in items:
        payload = item.payload
        if item.status != "completed" and not isinstance(payload, ToolResult):
            continue
        if isinstance(payload, Reasoning | AgentMessage | ToolCall):
            if step is None or not _joins(step, item, payload):
                step = AssistantStep(turn_id=item.turn_id)
                segments.append(step)
            if isinstance(payload, Reasoning):
                step.skeleton.extend(_skeleton(payload, provider))
            elif isinstance(payload, AgentMessage):
                step.text = payload.text
            else:
                step.calls.append(payload)
            continue
        if isinstance(payload, UserMessage | ToolResult) or (
            isinstance(payload, SystemEvent) and payload.phase in MODEL_VISIBLE_PHASES
        ):
            segments.append(payload)
            step = None
    return segments


def _joins(step: AssistantStep, item: Item, payload: Payload) -> bool:
    # The runtime stores a step as reasoning, then text, then calls: a reasoning item always
    # opens a step, and a text opens one unless the current step has only reasoning so far.
    if step.turn_id != item.turn_id or isinstance(payload, Reasoning):
        return False
    if isinstance(payload, ToolCall):
        return True
    return step.text is None and not step.calls


def stored_reasoning_data(payload: Reasoning) -> Mapping[str, Any]:
    """The provider state kept in a `Reasoning` item (its `data`), or nothing."""
    data = getattr(payload, "data", None)
    return cast(Mapping[str, Any], data) if isinstance(data, Mapping) else {}


def _skeleton(payload: Reasoning, provider: Provider) -> list[dict[str, Any]]:
    state = stored_reasoning_data(payload).get(provider)
    if not isinstance(state, Mapping):
        return []
    entries = cast(Mapping[str, Any], state).get("skeleton")
    if not isinstance(entries, list):
        return []
    return [
        dict(cast(Mapping[str, Any], e)) for e in cast(list[Any], entries) if isinstance(e, Mapping)
    ]


def reasoning_data(response: ModelResponse) -> dict[str, Any]:
    """What the `Reasoning` item of a step must keep so that the next request can hand the
    model's reasoning back: `{provider: {"skeleton": [...]}}`, or `{}` when the step has no
    reasoning to return (or came from a backend that needs none).

    The skeleton lists the step's output in order: reasoning items (OpenAI Responses) and
    thinking blocks (Anthropic, with their signatures) verbatim, and for the step's text and
    tool calls only the ids that link them. It is read from `response.raw`, the provider's
    final response as JSON, which the Responses and Anthropic backends set.

    Example:
        >>> reasoning_data(ModelResponse(text="hi"))
        {}
    """
    raw = response.raw
    if not isinstance(raw, Mapping):
        return {}
    raw = cast(Mapping[str, Any], raw)
    if raw.get("object") == "response":
        return _openai_skeleton(raw.get("output"))
    if raw.get("type") == "message":
        return _anthropic_skeleton(raw.get("content"))
    return {}


def _openai_skeleton(output: Any) -> dict[str, Any]:
    skeleton: list[dict[str, Any]] = []
    reasoned = False
    for entry in _dicts(output):
        kind = entry.get("type")
        if kind == "reasoning":
            reasoned = True
            skeleton.append({k: v for k, v in entry.items() if k != "status" and v is not None})
        elif kind == "message":
            link = {"type": "message", "id": entry.get("id")}
            if entry.get("phase") is not None:
                link["phase"] = entry["phase"]
            skeleton.append(link)
        elif kind == "function_call":
            skeleton.append(
                {"type": "function_call", "id": entry.get("id"), "call_id": entry.get("call_id")}
            )
    return {OPENAI_RESPONSES: {"skeleton": skeleton}} if reasoned else {}


def _anthropic_skeleton(content: Any) -> dict[str, Any]:
    skeleton: list[dict[str, Any]] = []
    reasoned = False
    for block in _dicts(content):
        kind = block.get("type")
        if kind == "thinking":
            reasoned = True
            skeleton.append(
                {
                    "type": "thinking",
                    "thinking": block.get("thinking", ""),
                    "signature": block.get("signature", ""),
                }
            )
        elif kind == "redacted_thinking":
            reasoned = True
            skeleton.append({"type": "redacted_thinking", "data": block.get("data", "")})
        elif kind == "text":
            skeleton.append({"type": "text"})
        elif kind == "tool_use":
            skeleton.append({"type": "tool_use", "id": block.get("id")})
    return {ANTHROPIC: {"skeleton": skeleton}} if reasoned else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [cast(dict[str, Any], v) for v in cast(list[Any], value) if isinstance(v, dict)]
