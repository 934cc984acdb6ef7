"""Typed model errors, and how a provider's HTTP error becomes one.

    ModelError (threadline.types)       `retryable` says whether the same call may succeed later
    ├── ModelRateLimitError             429: too many requests; `retry_after` when the provider said
    ├── ModelOverloadedError            the provider is overloaded (Anthropic 529)
    ├── ModelServerError                5xx: the provider failed
    ├── ModelConnectionError            no connection, or the stream broke before its end
    ├── ModelTimeoutError               no first token, or no end, within the configured time
    ├── ContextLengthError              the request does not fit the model's context window
    ├── ModelAuthenticationError        the API key is missing, wrong or lacks permission
    └── ModelBadRequestError            the provider refused the request as malformed

Only the first five are retryable. A quota that is used up (OpenAI's `insufficient_quota`)
arrives as a 429 but is a `ModelRateLimitError` with `retryable=False`.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from typing import Any

from threadline.types import ModelError


class ModelRateLimitError(ModelError):
    """The provider refused the call for now. `retry_after` is in seconds, if it said."""

    code = "model_rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after, **context)
        self.retry_after = retry_after


class ModelOverloadedError(ModelError):
    code = "model_overloaded"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after, **context)
        self.retry_after = retry_after


class ModelServerError(ModelError):
    code = "model_server_error"

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        retry_after: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after, **context)
        self.retry_after = retry_after


class ModelConnectionError(ModelError):
    code = "model_connection_error"

    def __init__(self, message: str, *, retryable: bool = True, **context: Any) -> None:
        super().__init__(message, retryable=retryable, **context)


class ModelTimeoutError(ModelError):
    code = "model_timeout"

    def __init__(self, message: str, *, retryable: bool = True, **context: Any) -> None:
        super().__init__(message, retryable=retryable, **context)


class ContextLengthError(ModelError):
    """The history does not fit the model's context window: shorten it, never retry as is."""

    code = "context_length_exceeded"


class ModelAuthenticationError(ModelError):
    code = "model_authentication"


class ModelBadRequestError(ModelError):
    code = "model_bad_request"


_CONTEXT_MESSAGES = re.compile(
    r"context.length|context.window|prompt is too long|maximum context", re.IGNORECASE
)
_CONTEXT_CODES = frozenset(
    {"context_length_exceeded", "model_context_window_exceeded", "prompt_too_long"}
)


def status_error(
    *,
    model: str,
    status: int | None,
    message: str,
    error_type: str | None = None,
    error_code: str | None = None,
    headers: Mapping[str, str] | None = None,
    during_stream: bool = False,
) -> ModelError:
    """The typed error for a provider's error answer: an HTTP status, or an error event in
    a stream (`status` None or 200, `error_type`/`error_code` from the event)."""
    context: dict[str, Any] = {"model": model}
    if status is not None and status != 200:
        context["status_code"] = status
    if error_code:
        context["provider_code"] = error_code
    elif error_type:
        context["provider_code"] = error_type
    where = "the stream failed" if during_stream else "the call failed"
    status_text = f" (HTTP {status})" if status is not None and status != 200 else ""
    text = f"{model}: {where}{status_text}: {message}"
    retry_after = parse_retry_after(headers) if headers is not None else None
    kind = error_code or error_type or ""
    if kind in _CONTEXT_CODES or (
        status in (None, 200, 400, 413) and _CONTEXT_MESSAGES.search(message)
    ):
        return ContextLengthError(text, **context)
    if kind == "insufficient_quota":
        return ModelRateLimitError(
            f"{text}; add credit or raise the quota", retryable=False, **context
        )
    if status == 429 or kind in ("rate_limit_error", "rate_limit_exceeded"):
        return ModelRateLimitError(text, retry_after=retry_after, **context)
    if status == 529 or kind == "overloaded_error":
        return ModelOverloadedError(text, retry_after=retry_after, **context)
    if status in (401, 403) or kind in (
        "authentication_error",
        "permission_error",
        "invalid_api_key",
    ):
        return ModelAuthenticationError(text, **context)
    if status == 408 or kind == "timeout_error":
        return ModelTimeoutError(text, **context)
    if (status is not None and status >= 500) or kind in ("api_error", "server_error"):
        return ModelServerError(text, retry_after=retry_after, **context)
    if status == 409:  # a conflict on the provider's side (e.g. a lock), gone on a retry
        return ModelError(text, retryable=True, **context)
    if status is not None and 400 <= status < 500:
        return ModelBadRequestError(text, **context)
    if during_stream:
        # An error event of a kind we do not know: the provider ended the stream early.
        return ModelServerError(text, **context)
    return ModelBadRequestError(text, **context)


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` (seconds or an HTTP date)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


def broken_stream(exc: Exception, model: str) -> ModelError:
    """A stream whose body broke, or was not valid SSE or JSON: retryable."""
    return ModelConnectionError(
        f"{model}: the stream broke: {type(exc).__name__}: {exc}", model=model
    )
