from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from threadline.types import Item, Usage


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSpec:
    """A tool as the model sees it: name, description, JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, kw_only=True, slots=True)
class AttachedFile:
    """A file attached to an input (a `FilePart`), as loaded for a request: the model reads
    it where its provider can."""

    file_id: str
    path: str  # in its thread
    media_type: str
    data: bytes


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRequest:
    """Everything one model call needs. `items` is the thread's repaired history; `files`
    holds the content of the files its inputs attach, by `file_id` (one missing there, such
    as a file deleted since, is named to the model but not shown)."""

    instructions: str | None
    items: Sequence[Item]
    tools: Sequence[ToolSpec] = ()
    output_schema: dict[str, Any] | None = None  # JSON Schema the final answer must match
    temperature: float | None = None
    top_p: float | None = None  # nucleus sampling; None: the backend's default
    max_output_tokens: int | None = None
    files: Mapping[str, AttachedFile] = field(default_factory=dict[str, AttachedFile])


@dataclass(frozen=True, kw_only=True, slots=True)
class TextDelta:
    type: Literal["text_delta"] = "text_delta"
    delta: str
    raw: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasoningDelta:
    type: Literal["reasoning_delta"] = "reasoning_delta"
    delta: str
    raw: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallDelta:
    """Part of a tool call. `index` identifies the call within the response; the first delta
    of a call carries its `tool_call_id` and `name`."""

    type: Literal["tool_call_delta"] = "tool_call_delta"
    index: int
    tool_call_id: str | None = None
    name: str | None = None
    arguments_delta: str = ""
    raw: Any = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallRequest:
    tool_call_id: str
    name: str
    arguments: str  # JSON text


FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "refusal", "other"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelResponse:
    """The final snapshot of a model call. Every stream ends with exactly one of these; it is
    the truth that deltas are merged into."""

    type: Literal["response"] = "response"
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCallRequest, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: FinishReason = "stop"
    raw: Any = None


ModelEvent = TextDelta | ReasoningDelta | ToolCallDelta | ModelResponse


@runtime_checkable
class Model(Protocol):
    """A model backend. `stream` yields deltas as they arrive and ends with a `ModelResponse`.

    Failures raise `threadline.ModelError` with `retryable` set. Cancelling the iteration must
    stop the underlying generation promptly.
    """

    @property
    def name(self) -> str: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]: ...
