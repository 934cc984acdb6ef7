"""Model backends behind one `Model` protocol that streams `ModelEvent`s."""

from ._protocol import (
    FinishReason,
    Model,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
    ToolSpec,
)
from ._registry import resolve_model

__all__ = [
    "FinishReason",
    "Model",
    "ModelEvent",
    "ModelRequest",
    "ModelResponse",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallRequest",
    "ToolSpec",
    "resolve_model",
]
