from __future__ import annotations

from typing import Any

from ._errors import InvalidInputError


def check_text(value: str, what: str) -> None:
    """Refuse text that no store can keep exactly: PostgreSQL's `text` cannot hold NUL and
    UTF-8 cannot encode a lone surrogate. The message names `what`, never the value."""
    if "\x00" in value:
        raise InvalidInputError(
            f"{what} contains a NUL character, which cannot be stored", field=what
        )
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:
            raise InvalidInputError(
                f"{what} contains a lone surrogate; send valid Unicode", field=what
            ) from None


def check_metadata(metadata: object) -> dict[str, Any]:
    """Thread metadata as given by a caller: a dict whose keys and string values, however
    deep, pass `check_text` (the HTTP API refuses the same text in any request body).
    Raises `InvalidInputError`."""
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata must be a dict")
    stack: list[Any] = [metadata]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            check_text(node, "metadata")
        elif isinstance(node, dict | list | tuple) and id(node) not in seen:
            # A cycle is walked once here; encoding it to JSON refuses it later.
            seen.add(id(node))
            if isinstance(node, dict):
                for key, value in node.items():  # pyright: ignore[reportUnknownVariableType]
                    stack.extend((key, value))  # pyright: ignore[reportUnknownArgumentType]
            else:
                stack.extend(node)  # pyright: ignore[reportUnknownArgumentType]
    return metadata  # pyright: ignore[reportUnknownVariableType]
