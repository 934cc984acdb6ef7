from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline._redaction import redact
from threadline.types import (
    ContentPart,
    InvalidInputError,
    TextPart,
    check_text,
    part_from_dict,
    part_to_dict,
)

TurnInput = str | Sequence[Any] | dict[str, Any]
"""A string, a list of input parts, or `{"input": ..., "sender": ...}`."""

MAX_INPUT_CHARS = 1_000_000


def normalize_input(
    value: TurnInput, sender: str | None
) -> tuple[tuple[ContentPart, ...], str | None]:
    """The input's parts and its sender. Raises `InvalidInputError` for anything else."""
    if isinstance(value, dict):
        if "input" not in value:
            raise InvalidInputError("an input dict needs an 'input' key")
        extra = set(value) - {"input", "sender"}
        if extra:
            raise InvalidInputError(f"unknown keys in input: {sorted(extra)}")
        sender = value.get("sender", sender)
        value = value["input"]
    if sender is not None and not isinstance(sender, str):
        raise InvalidInputError("sender must be a string")
    if isinstance(value, str):
        parts: tuple[ContentPart, ...] = (TextPart(text=value),)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        parts = tuple(part_from_dict(p) for p in value)
    else:
        raise InvalidInputError(
            f"input must be a string, a list of parts or a dict, not {type(value).__name__}"
        )
    if all(isinstance(part, TextPart) and not part.text.strip() for part in parts):
        # An image or a file says something even without text.
        raise InvalidInputError("input is empty: give some text, an image or a file")
    size = 0
    for part in parts:
        if isinstance(part, TextPart):
            check_text(part.text, "input text")
            size += len(part.text)
    if size > MAX_INPUT_CHARS:
        raise InvalidInputError(f"input is longer than {MAX_INPUT_CHARS} characters")
    return parts, sender


def parts_as_json(parts: tuple[ContentPart, ...]) -> list[dict[str, Any]]:
    """Input as it is stored (a turn's, the inbox's, a timer's), no secret value in it."""
    return redact([part_to_dict(p) for p in parts])
