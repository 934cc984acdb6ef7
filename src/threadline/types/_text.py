from __future__ import annotations

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
