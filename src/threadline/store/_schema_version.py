"""Which migrations a database needs: the one decision both stores' `migrate` make alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from threadline.types import SchemaVersionError

T = TypeVar("T")


def pending(current: int, migrations: Sequence[tuple[int, T]]) -> list[tuple[int, T]]:
    """The migrations a database at version `current` has not applied, oldest first. A
    database written by a newer threadline is refused: this one cannot know its schema."""
    supported = migrations[-1][0]
    if current > supported:
        raise SchemaVersionError(
            f"this database has schema version {current}, newer than the {supported} "
            "this threadline understands: upgrade threadline to open it",
            found=current,
            supported=supported,
        )
    return [(version, steps) for version, steps in migrations if version > current]
