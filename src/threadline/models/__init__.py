"""Model backends behind one `Model` protocol that streams `ModelEvent`s."""

from ._local import LocalModel, local_model_path
from ._openai_chat import OpenAIChatModel
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
    "LocalModel",
    "Model",
    "ModelEvent",
    "ModelRequest",
    "ModelResponse",
    "OpenAIChatModel",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolCallRequest",
    "ToolSpec",
    "local_model_path",
    "resolve_model",
]
