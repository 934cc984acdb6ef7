"""Reading a JSON request body: size, nesting depth, and text a store cannot keep."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from ._errors import APIError, invalid
from ._security import BodyTooLarge, too_large


async def read_json(request: Request, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object. Raises `APIError` (400 or 413) for anything else: not
    UTF-8, not JSON, not an object, nested deeper than `max_depth`, or holding a NUL character or a
    lone surrogate in any string."""
    try:
        raw = await request.body()
    except BodyTooLarge:
        raise too_large(max_bytes) from None
    return parse_json(raw, max_bytes=max_bytes, max_depth=max_depth)


def parse_json(raw: bytes | str, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """A request (a body, a WebSocket message) as a JSON object, with the checks of
    `read_json`."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > max_bytes:
        raise too_large(max_bytes)
    if not raw.strip():
        raise invalid("the request body is empty: send a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson words every undecodable byte as a surrogate problem; tell the two apart.
        bad_byte = _invalid_utf8_at(raw)
        if bad_byte is not None:
            raise invalid(
                f"the request body is not valid UTF-8 (an invalid byte at offset {bad_byte}); "
                "send JSON encoded as UTF-8",
                code="invalid_utf8",
            ) from None
        message = str(exc)
        if "surrogate" in message:
            raise invalid(
                "the request body contains a lone surrogate; send valid Unicode",
                code="invalid_text",
            ) from None
        if "depth" in message:
            raise _too_deep(max_depth) from None
        raise invalid(
            f"the request body is not valid JSON: {message[:200]}", code="invalid_json"
        ) from None
    if not isinstance(value, dict):
        raise invalid("the request body must be a JSON object")
    check_json(value, max_depth)
    return value  # type: ignore[return-value]


def check_json(value: Any, max_depth: int) -> None:
    """Walk `value` without recursion; refuse deep nesting and unstorable strings."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _check_text(node)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth > max_depth:
            raise _too_deep(max_depth)
        if isinstance(node, dict):
            for key, child in node.items():  # type: ignore[union-attr]
                _check_text(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in node)  # type: ignore[union-attr]


def _invalid_utf8_at(raw: bytes) -> int | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise invalid(
            "the request contains a NUL character in a string; it cannot be stored",
            code="invalid_text",
        )


def _too_deep(max_depth: int) -> APIError:
    return invalid(f"the request body is nested deeper than {max_depth} levels", code="too_deep")
