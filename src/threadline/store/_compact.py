"""How the SQL stores spell compactly what every row of a turn repeats: ids, item kinds and
states, usage counters, and the payload fields that another column (or a default) holds already.

These spellings are part of the stored format: the code tables below only ever grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, fields
from typing import Any

import orjson

from threadline.types import (
    InvalidInputError,
    Payload,
    Usage,
    payload_to_dict,
    stored_payload,
)

# -- ids ---------------------------------------------------------------------------------------

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # `new_id`'s
_DIGITS = {c: n for n, c in enumerate(_ALPHABET)}
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 characters
_CHARS = 26  # after the prefix: 130 bits, in 17 bytes
_PACKED = 17
_TEXT = b"\xff"  # starts an id kept as text; never the first byte of a packed one (< 4)


# Our alphabet onto the digits `int(_, 32)` reads; every other ASCII character onto one it
# refuses (and `isascii` keeps out the non-ASCII digits that `int` would accept).
_TO_BASE32 = str.maketrans(
    {
        chr(c): "0123456789abcdefghijklmnopqrstuv"[_DIGITS[chr(c)]] if chr(c) in _DIGITS else "!"
        for c in range(128)
    }
)


def pack_id(prefix: str, value: str) -> bytes:
    """`value` as stored: an id `new_id(prefix)` made (or derived) in 17 bytes, any other id as
    its text after a marker byte."""
    head = len(prefix) + 1
    if (
        len(value) == head + _CHARS
        and value.startswith(prefix)
        and value[head - 1] == "_"
        and value.isascii()
    ):
        try:
            return int(value[head:].translate(_TO_BASE32), 32).to_bytes(_PACKED, "big")
        except ValueError:
            pass
    # A lone surrogate (which no stored id holds) still makes a key: one that matches nothing.
    return _TEXT + value.encode("utf-8", "surrogatepass")


def unpack_id(prefix: str, data: bytes) -> str:
    if len(data) == _PACKED and data[0] < 4:
        number = int.from_bytes(data, "big")
        return f"{prefix}_" + "".join(
            [_PAIRS[(number >> (10 * n)) & 1023] for n in range(_CHARS // 2 - 1, -1, -1)]
        )
    if data[:1] == _TEXT:
        return data[1:].decode()
    raise ValueError(f"not a stored {prefix} id")


def shown_id(prefix: str, value: object) -> str:
    """An id column's value for an error message: the id, or a mark if it cannot be read."""
    try:
        return unpack_id(prefix, bytes(value)) if isinstance(value, bytes | memoryview) else "?"
    except (ValueError, UnicodeDecodeError):
        return "?"


# -- codes ---------------------------------------------------------------------------------------

ITEM_TYPES = (
    "user_message",
    "agent_message",
    "reasoning",
    "tool_call",
    "tool_result",
    "approval_request",
    "approval_response",
    "awaiting_input",
    "input_response",
    "plan",
    "system_event",
    "subagent",
    "error",
)
ITEM_STATUSES = ("completed", "in_progress", "failed", "cancelled")
TOOL_STATES = (
    "requested",
    "awaiting_approval",
    "started",
    "succeeded",
    "failed",
    "denied",
    "unknown",
    "external",
)
TYPE_CODES = {name: code for code, name in enumerate(ITEM_TYPES)}
STATUS_CODES = {name: code for code, name in enumerate(ITEM_STATUSES)}
STATE_CODES = {name: code for code, name in enumerate(TOOL_STATES)}
TOOL_CALL = TYPE_CODES["tool_call"]


def code_of(codes: dict[str, int], name: str, what: str) -> int:
    try:
        return codes[name]
    except KeyError:
        raise InvalidInputError(f"unknown {what} {name!r}") from None


# -- usage ---------------------------------------------------------------------------------------

_USAGE_DEFAULTS: tuple[Any, ...] = tuple(f.default for f in fields(Usage))


_USAGE_FIELDS = tuple(f.name for f in fields(Usage))


def usage_values(usage: Usage) -> list[Any]:
    """The counters in field order, without the trailing ones at their defaults."""
    values = [getattr(usage, name) for name in _USAGE_FIELDS]
    while values and _same(values[-1], _USAGE_DEFAULTS[len(values) - 1]):
        values.pop()
    return values


def usage_from_values(values: Sequence[Any]) -> Usage:
    if len(values) > len(_USAGE_DEFAULTS):
        raise ValueError("more usage counters than Usage has")
    return Usage(**{f.name: v for f, v in zip(fields(Usage), values, strict=False)})


def dump_usage(usage: Usage) -> str:
    return orjson.dumps(usage_values(usage)).decode()


def load_usage(text: str | bytes) -> Usage:
    values = orjson.loads(text)
    if not isinstance(values, list):
        raise ValueError("stored usage is a list")
    return usage_from_values(values)  # pyright: ignore[reportUnknownArgumentType]


# -- payloads ------------------------------------------------------------------------------------


def _defaults(payload_type: type[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for f in fields(payload_type):
        if f.default is not MISSING:
            found[f.name] = f.default
        elif f.default_factory is not MISSING:
            found[f.name] = f.default_factory()
    return found


_PAYLOAD_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


def content_to_store(payload: Payload, call_id: str | None) -> dict[str, Any]:
    """The payload's content without what the row holds elsewhere: the tool call id (its own
    column) and fields at their defaults. `content_from_store` gives them back."""
    content = payload_to_dict(payload)
    defaults = _PAYLOAD_DEFAULTS.get(type(payload))
    if defaults is None:
        defaults = _PAYLOAD_DEFAULTS[type(payload)] = _defaults(type(payload))
    for name in [n for n, v in content.items() if n in defaults and _same(v, defaults[n])]:
        del content[name]
    if call_id is not None and content.get("tool_call_id") == call_id:
        del content["tool_call_id"]
    return content


def _same(value: Any, default: Any) -> bool:
    # 0 and 0.0 are equal but are written differently: only the same type is left out.
    return type(value) is type(default) and value == default


def content_from_store(item_type: str, content: Any, call_id: str | None) -> Payload:
    if not isinstance(content, dict):
        raise TypeError("stored content is an object")
    if call_id is not None and item_type != "plan":
        content.setdefault("tool_call_id", call_id)
    return stored_payload(item_type, content)  # pyright: ignore[reportUnknownArgumentType]
