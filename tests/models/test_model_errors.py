"""Provider error answers become typed model errors that say whether to retry."""

from __future__ import annotations

import email.utils

import pytest

from threadline.models import (
    ContextLengthError,
    ModelAuthenticationError,
    ModelBadRequestError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelServerError,
    ModelTimeoutError,
)
from threadline.models._errors import parse_retry_after, status_error
from threadline.types import ModelError


@pytest.mark.parametrize(
    ("status", "error_type", "error_code", "message", "kind", "retryable"),
    [
        (429, "rate_limit_error", None, "slow down", ModelRateLimitError, True),
        (429, "insufficient_quota", "insufficient_quota", "quota", ModelRateLimitError, False),
        (529, "overloaded_error", None, "Overloaded", ModelOverloadedError, True),
        (200, "overloaded_error", None, "Overloaded", ModelOverloadedError, True),  # mid-stream
        (500, "api_error", None, "boom", ModelServerError, True),
        (503, None, None, "unavailable", ModelServerError, True),
        (None, None, "server_error", "boom", ModelServerError, True),
        (408, None, None, "timeout", ModelTimeoutError, True),
        (401, "authentication_error", None, "invalid x-api-key", ModelAuthenticationError, False),
        (403, "permission_error", None, "no", ModelAuthenticationError, False),
        (400, "invalid_request_error", None, "bad", ModelBadRequestError, False),
        (404, "not_found_error", None, "model: nope", ModelBadRequestError, False),
        (
            400,
            "invalid_request_error",
            "context_length_exceeded",
            "too big",
            ContextLengthError,
            False,
        ),
        (
            400,
            "invalid_request_error",
            None,
            "prompt is too long: 208310 tokens > 200000 maximum",
            ContextLengthError,
            False,
        ),
        (
            400,
            "invalid_request_error",
            None,
            "This model's maximum context length is 128000 tokens.",
            ContextLengthError,
            False,
        ),
    ],
)
def test_status_and_provider_codes_pick_the_error(
    status: int | None,
    error_type: str | None,
    error_code: str | None,
    message: str,
    kind: type[ModelError],
    retryable: bool,
) -> None:
    error = status_error(
        model="m", status=status, message=message, error_type=error_type, error_code=error_code
    )

    assert type(error) is kind
    assert error.retryable is retryable
    assert message in error.message


def test_each_error_has_its_own_code_and_keeps_its_context() -> None:
    error = status_error(
        model="gpt-4.1", status=400, message="too long", error_code="context_length_exceeded"
    )

    assert error.code == "context_length_exceeded"
    assert error.to_dict() == {
        "code": "context_length_exceeded",
        "message": "gpt-4.1: the call failed (HTTP 400): too long",
        "model": "gpt-4.1",
        "status_code": 400,
        "provider_code": "context_length_exceeded",
    }
    assert (
        len(
            {
                ModelRateLimitError.code,
                ModelOverloadedError.code,
                ModelServerError.code,
                ModelTimeoutError.code,
                ContextLengthError.code,
                ModelAuthenticationError.code,
                ModelBadRequestError.code,
                ModelError.code,
            }
        )
        == 8
    )


def test_a_rate_limit_carries_the_wait_the_server_asked_for() -> None:
    error = status_error(model="m", status=429, message="slow", headers={"retry-after": "20"})

    assert isinstance(error, ModelRateLimitError)
    assert error.retry_after == 20.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_in_seconds_or_milliseconds(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert parse_retry_after(headers) == seconds


def test_retry_after_as_an_http_date() -> None:
    now = 1_700_000_000.0
    headers = {"retry-after": email.utils.formatdate(now + 30, usegmt=True)}

    assert parse_retry_after(headers, now=now) == pytest.approx(30.0)
