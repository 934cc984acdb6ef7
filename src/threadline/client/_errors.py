"""JSON-RPC errors back into threadline's own error classes, by their `code`."""

from __future__ import annotations

from typing import Any

from threadline.server.codex._jsonrpc import (
    INVALID_PARAMS,
    NOT_FOUND,
    TURN_CANCELLED,
    TURN_FAILED,
    TURN_IN_PROGRESS,
)
from threadline.server.codex._wire import result_from_wire
from threadline.types import (
    ConfigurationError,
    FileQuotaExceededError,
    InvalidInputError,
    NotFoundError,
    SecretKeyError,
    ThreadlineError,
    ThreadTerminatedError,
    TurnCancelledError,
    TurnError,
    TurnFailedError,
    TurnInProgressError,
)


class ConnectionLostError(ThreadlineError):
    """The connection to the server dropped while a request was in flight and could not be
    restored; whether the server acted on the request is unknown."""

    code = "connection_lost"


class RemoteError(ThreadlineError):
    """An error the server reported that has no class here; `remote_code` is its code."""

    code = "remote_error"

    def __init__(self, message: str, *, remote_code: str, **context: Any) -> None:
        super().__init__(message, **context)
        self.remote_code = remote_code


_BY_NAME: dict[str, type[ThreadlineError]] = {
    cls.code: cls
    for cls in (
        ConfigurationError,
        SecretKeyError,
        InvalidInputError,
        FileQuotaExceededError,
        ThreadTerminatedError,
        NotFoundError,
        TurnFailedError,
        TurnCancelledError,
        TurnInProgressError,
    )
}
_BY_NUMBER: dict[int, type[ThreadlineError]] = {
    INVALID_PARAMS: InvalidInputError,
    NOT_FOUND: NotFoundError,
    TURN_IN_PROGRESS: TurnInProgressError,
    TURN_FAILED: TurnFailedError,
    TURN_CANCELLED: TurnCancelledError,
}


def error_from_wire(error: dict[str, Any]) -> ThreadlineError:
    """The threadline error a JSON-RPC error stands for, with the context it carried."""
    number = error.get("code")
    message = str(error.get("message", "the server reported an error"))
    raw_data = error.get("data")
    data: dict[str, Any] = dict(raw_data) if isinstance(raw_data, dict) else {}
    name = data.pop("code", None)
    data.pop("message", None)
    wire_result = data.pop("result", None)
    cls = _BY_NAME.get(str(name)) or (_BY_NUMBER.get(number) if isinstance(number, int) else None)
    if cls is None:
        return RemoteError(message, remote_code=str(name or number), **data)
    if issubclass(cls, TurnError):
        result = result_from_wire(wire_result) if isinstance(wire_result, dict) else None
        if result is not None:
            data["result"] = result  # where in-process turn errors carry it
        return cls(message, turn=result.turn if result is not None else None, **data)
    return cls(message, **data)
