"""What the two OpenAI backends share: building the SDK client and reading its errors."""

from __future__ import annotations

import os

import openai

from threadline.types import ConfigurationError, ModelError

from ._errors import ModelConnectionError, ModelTimeoutError, status_error

# Local servers (llama.cpp, Ollama, vLLM) accept any key, but the SDK refuses to start without.
PLACEHOLDER_API_KEY = "not-needed"


def openai_client(model: str, *, base_url: str | None, api_key: str | None) -> openai.AsyncOpenAI:
    """An `AsyncOpenAI` that never retries on its own: the shared retry layer does, with
    the backend's policy and its (injectable) sleep."""
    if api_key is None and not os.environ.get("OPENAI_API_KEY") and base_url is not None:
        api_key = PLACEHOLDER_API_KEY
    try:
        return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=0)
    except openai.OpenAIError as exc:
        raise ConfigurationError(
            "no API key for OpenAI: set OPENAI_API_KEY or pass api_key",
            model=model,
        ) from exc


def openai_error(exc: openai.OpenAIError, model: str, *, during_stream: bool = False) -> ModelError:
    """The typed `ModelError` for an exception of the `openai` SDK."""
    name = type(exc).__name__
    if isinstance(exc, openai.APITimeoutError):
        return ModelTimeoutError(f"{model}: the request timed out ({name})", model=model)
    if isinstance(exc, openai.APIConnectionError):
        where = "the stream broke" if during_stream else "cannot reach the server"
        return ModelConnectionError(f"{model}: {where}: {name}: {exc.message}", model=model)
    if isinstance(exc, openai.APIStatusError):
        return status_error(
            model=model,
            status=exc.status_code,
            message=f"{name}: {exc.message}",
            error_type=exc.type,
            error_code=exc.code,
            headers=exc.response.headers,
            during_stream=during_stream,
        )
    if isinstance(exc, openai.APIError):  # an error object inside a stream
        return status_error(
            model=model,
            status=None,
            message=f"{name}: {exc.message}",
            error_type=exc.type,
            error_code=exc.code,
            during_stream=True,
        )
    return ModelError(f"{model}: {name}: {exc}", retryable=False, model=model)
