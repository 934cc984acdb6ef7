"""Persistence behind one `Store` protocol. SQLite is the embedded default."""

from ._open import open_store
from ._protocol import Store
from ._sqlite import CursorMovedError, SQLiteStore
from ._writes import (
    BeginOutcome,
    BeginTurn,
    Duplicate,
    Enqueued,
    ThreadCursor,
    ThreadPage,
    ThreadUpdate,
    TurnStarted,
    TurnWrite,
)

__all__ = [
    "BeginOutcome",
    "BeginTurn",
    "CursorMovedError",
    "Duplicate",
    "Enqueued",
    "SQLiteStore",
    "Store",
    "ThreadCursor",
    "ThreadPage",
    "ThreadUpdate",
    "TurnStarted",
    "TurnWrite",
    "open_store",
]
