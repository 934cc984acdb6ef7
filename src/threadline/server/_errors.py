"""HTTP errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from threadline._redaction import redact
from threadline.types import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    ThreadlineError,
    TurnCancelledError,
    TurnInProgressError,
)

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    500: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """An error answered to the client. `retry` sets `x-should-retry` (the OpenAI SDKs obey
    it): False for everything a retry cannot fix, or where a repeated POST would be wrong."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        retry: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.retry = retry

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": redact(self.message),
                "type": _TYPES.get(self.status, "error"),
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> Response:
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type="application/json",
            headers={"x-should-retry": "true" if self.retry else "false"},
        )


def not_found(kind: str, object_id: str, param: str | None = None) -> APIError:
    shown = object_id if len(object_id) <= 80 else object_id[:80] + "..."
    return APIError(404, f"{kind} with id '{shown}' not found.", code="not_found", param=param)


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def from_threadline(error: ThreadlineError, *, param: str | None = None) -> APIError:
    """The HTTP form of an error the runtime raised for this request."""
    if isinstance(error, NotFoundError):
        return APIError(404, error.message, code="not_found", param=param)
    if isinstance(error, TurnInProgressError):
        return APIError(409, error.message, code="turn_in_progress", param=param)
    if isinstance(error, InvalidInputError | ConfigurationError):
        return APIError(400, error.message, code=error.code, param=param)
    if isinstance(error, TurnCancelledError):
        return APIError(409, error.message, code=error.code, param=param)
    return APIError(500, f"{error.code}: {error.message}", code=error.code, param=param)
