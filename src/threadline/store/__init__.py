"""Persistence behind one `Store` protocol. SQLite is the embedded default."""

from ._open import open_store
from ._protocol import Store
from ._sqlite import SQLiteStore
from ._sqlite_ops import CursorMovedError
from ._writes import (
    BeginOutcome,
    BeginTurn,
    Duplicate,
    Enqueued,
    Lease,
    Renewal,
    ThreadCursor,
    ThreadPage,
    ThreadUpdate,
    ToolCallState,
    TurnStarted,
    TurnWrite,
    Work,
    WorkKind,
    Written,
)

__all__ = [
    "BeginOutcome",
    "BeginTurn",
    "CursorMovedError",
    "Duplicate",
    "Enqueued",
    "Lease",
    "Renewal",
    "SQLiteStore",
    "Store",
    "ThreadCursor",
    "ThreadPage",
    "ThreadUpdate",
    "ToolCallState",
    "TurnStarted",
    "TurnWrite",
    "Work",
    "WorkKind",
    "Written",
    "open_store",
]
