"""JSON-RPC as the Codex app-server speaks it: one JSON object per message, no `"jsonrpc"`
header, no batches. Decoding refuses what is too big or too deep before anything runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from threadline._redaction import redact
from threadline.types import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    ThreadlineError,
    TurnCancelledError,
    TurnFailedError,
    TurnInProgressError,
)

JSON = dict[str, Any]
RequestId = str | int

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # any other threadline error; `data.code` says which
NOT_FOUND = -32004
TURN_IN_PROGRESS = -32009
TURN_FAILED = -32010
TURN_CANCELLED = -32011

_CODE_OF: tuple[tuple[type[ThreadlineError], int], ...] = (
    (InvalidInputError, INVALID_PARAMS),
    (ConfigurationError, INVALID_PARAMS),  # an unknown agent or mode named by the client
    (NotFoundError, NOT_FOUND),
    (TurnInProgressError, TURN_IN_PROGRESS),
    (TurnFailedError, TURN_FAILED),
    (TurnCancelledError, TURN_CANCELLED),
)


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one connection may send and how far behind it may fall.

    Args:
        max_message_bytes: a larger message is refused (and a WebSocket frame closes the
            connection).
        max_depth: nesting of objects and arrays allowed in a message.
        max_outbound: messages queued for a client that does not read; one more drops it.
        max_pending_requests: requests waiting to be handled; reading pauses beyond.
    """

    max_message_bytes: int = 4 * 1024 * 1024
    max_depth: int = 64
    max_outbound: int = 10_000
    max_pending_requests: int = 256


class RpcError(Exception):
    """An error answered to the client: a JSON-RPC code, a message and optional data."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_wire(self) -> JSON:
        error: JSON = {"code": self.code, "message": redact(self.message)}
        if self.data is not None:
            error["data"] = redact(self.data)
        return error


def rpc_error(exc: ThreadlineError) -> RpcError:
    """The JSON-RPC error for a threadline error: a code by class, `data` with its `code`
    and context (never a secret: error messages are written to be shown)."""
    code = next((c for cls, c in _CODE_OF if isinstance(exc, cls)), SERVER_ERROR)
    data = {key: value for key, value in exc.to_dict().items() if _is_json(value)}
    return RpcError(code, exc.message, data)


def _is_json(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


@dataclass(frozen=True, kw_only=True)
class Request:
    id: RequestId
    method: str
    params: JSON = field(default_factory=dict[str, Any])


@dataclass(frozen=True, kw_only=True)
class Notification:
    method: str
    params: JSON = field(default_factory=dict[str, Any])


@dataclass(frozen=True, kw_only=True)
class Response:
    id: RequestId
    result: Any = None
    error: JSON | None = None


Message = Request | Notification | Response


class MessageError(RpcError):
    """A message that cannot be handled; `id` is its request id when that much was read."""

    def __init__(self, code: int, message: str, id: RequestId | None = None) -> None:
        super().__init__(code, message)
        self.id = id


def decode(data: str | bytes, limits: Limits) -> Message:
    """One message from the wire. Raises `MessageError` for anything that is not one
    well-formed message within the limits."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "replace"))
    if size > limits.max_message_bytes:
        raise MessageError(
            INVALID_REQUEST,
            f"message of {size} bytes is over the limit of {limits.max_message_bytes} bytes",
        )
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise MessageError(
                INVALID_REQUEST, f"JSON nested deeper than {limits.max_depth} levels"
            ) from None
        raise MessageError(PARSE_ERROR, f"not valid JSON: {exc}") from None
    if isinstance(value, list):
        raise MessageError(
            INVALID_REQUEST,
            "batches are not supported: send one JSON-RPC "
            "message per line (stdio) or per frame (WebSocket)",
        )
    if not isinstance(value, dict):
        raise MessageError(INVALID_REQUEST, "a message must be a JSON object")
    if _depth_exceeds(value, limits.max_depth):
        raise MessageError(
            INVALID_REQUEST,
            f"JSON nested deeper than {limits.max_depth} levels",
            _request_id(value),
        )
    return _classify(value)


def _request_id(value: JSON) -> RequestId | None:
    raw = value.get("id")
    return raw if isinstance(raw, str | int) and not isinstance(raw, bool) else None


def _classify(value: JSON) -> Message:
    method = value.get("method")
    has_id = "id" in value
    raw_id = value.get("id")
    if has_id and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        raise MessageError(INVALID_REQUEST, "`id` must be a string or an integer")
    if method is None:
        if not has_id:
            raise MessageError(INVALID_REQUEST, "a message needs a `method` or an `id`")
        assert isinstance(raw_id, str | int)
        error = value.get("error")
        if error is not None and not isinstance(error, dict):
            raise MessageError(INVALID_REQUEST, "`error` must be an object", raw_id)
        return Response(id=raw_id, result=value.get("result"), error=error)
    if not isinstance(method, str) or not method:
        raise MessageError(
            INVALID_REQUEST, "`method` must be a non-empty string", _request_id(value)
        )
    params = value.get("params")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise MessageError(INVALID_PARAMS, "`params` must be an object", _request_id(value))
    if has_id:
        assert isinstance(raw_id, str | int)
        return Request(id=raw_id, method=method, params=params)
    return Notification(method=method, params=params)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children: Iterator[Any] | None = None
        if isinstance(current, dict):
            children = iter(current.values())  # type: ignore[arg-type]
        elif isinstance(current, list):
            children = iter(current)  # type: ignore[arg-type]
        if children is not None:
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def encode(message: Mapping[str, Any]) -> bytes:
    """A message as one line of JSON (without the newline)."""
    return orjson.dumps(message)


def request_message(id: RequestId, method: str, params: JSON) -> JSON:
    return {"id": id, "method": method, "params": params}


def notification_message(method: str, params: JSON) -> JSON:
    return {"method": method, "params": params}


def result_message(id: RequestId, result: Any) -> JSON:
    return {"id": id, "result": result}


def error_message(id: RequestId | None, error: RpcError) -> JSON:
    return {"id": id, "error": error.to_wire()}
