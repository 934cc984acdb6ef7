"""Persistence behind one `Store` protocol. SQLite is the embedded default; `PostgresStore`
(which needs the `postgres` extra) is shared by processes on several hosts."""

from typing import TYPE_CHECKING, Any

from ._open import open_store
from ._ops_family import Spawn, Spawned
from ._ops_lifecycle import TERMINATED_CODE, Terminate, Terminated
from ._ops_snapshot import ThreadSnapshot
from ._ops_threads import CursorMovedError
from ._protocol import Store
from ._sqlite import SQLiteStore
from ._writes import (
    AppendItems,
    BeginOutcome,
    BeginTurn,
    Duplicate,
    Enqueued,
    FileOp,
    ItemQuery,
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
    "TERMINATED_CODE",
    "AppendItems",
    "BeginOutcome",
    "BeginTurn",
    "CursorMovedError",
    "Duplicate",
    "Enqueued",
    "FileOp",
    "ItemQuery",
    "Lease",
    "PostgresStore",
    "Renewal",
    "SQLiteStore",
    "Spawn",
    "Spawned",
    "Store",
    "Terminate",
    "Terminated",
    "ThreadCursor",
    "ThreadPage",
    "ThreadSnapshot",
    "ThreadUpdate",
    "ToolCallState",
    "TurnStarted",
    "TurnWrite",
    "Work",
    "WorkKind",
    "Written",
    "open_store",
]

if TYPE_CHECKING:
    from ._postgres import PostgresStore


def __getattr__(name: str) -> Any:
    # psycopg is imported only by those who use PostgreSQL.
    if name == "PostgresStore":
        from ._postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
