"""Model backends behind one `Model` protocol that streams `ModelEvent`s."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._context_window import FitResult, TokenCounter, estimate_tokens, fit_history
from ._errors import (
    ContextLengthError,
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelConnectionError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)
from ._history import reasoning_data
from ._local import LocalModel, local_model_path
from ._pricing import DEFAULT_PRICES, ModelPrice, PriceTable
from ._protocol import (
    AttachedFile,
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
from ._retry import RetryPolicy, Sleep

if TYPE_CHECKING:
    from ._anthropic import AnthropicModel
    from ._openai_chat import OpenAIChatModel
    from ._openai_responses import OpenAIResponsesModel

__all__ = [
    "DEFAULT_PRICES",
    "AnthropicModel",
    "AttachedFile",
    "ContextLengthError",
    "FinishReason",
    "FitResult",
    "LocalModel",
    "Model",
    "ModelAuthenticationError",
    "ModelBadRequestError",
    "ModelConnectionError",
    "ModelEvent",
    "ModelOverloadedError",
    "ModelPrice",
    "ModelRateLimitError",
    "ModelRequest",
    "ModelResponse",
    "ModelServerError",
    "ModelTimeoutError",
    "OpenAIChatModel",
    "OpenAIResponsesModel",
    "PriceTable",
    "ReasoningDelta",
    "RetryPolicy",
    "Sleep",
    "TextDelta",
    "TokenCounter",
    "ToolCallDelta",
    "ToolCallRequest",
    "ToolSpec",
    "estimate_tokens",
    "fit_history",
    "local_model_path",
    "reasoning_data",
    "resolve_model",
]


def __getattr__(name: str) -> Any:
    # SDKs are imported when their backend is asked for: `import threadline` stays fast, and
    # the anthropic SDK is an optional extra.
    if name == "OpenAIChatModel":
        from ._openai_chat import OpenAIChatModel

        return OpenAIChatModel
    if name == "OpenAIResponsesModel":
        from ._openai_responses import OpenAIResponsesModel

        return OpenAIResponsesModel
    if name == "AnthropicModel":
        from ._registry import ANTHROPIC_EXTRA

        try:
            from ._anthropic import AnthropicModel
        except ImportError as exc:
            from threadline.types import ConfigurationError

            raise ConfigurationError(
                f"AnthropicModel needs the anthropic SDK: {ANTHROPIC_EXTRA} ({exc})"
            ) from exc
        return AnthropicModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
