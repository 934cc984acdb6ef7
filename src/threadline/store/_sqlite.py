from __future__ import annotations

import functools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal

from threadline.types import (
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    LeaseLost,
    NotFoundError,
    StoreError,
    ThreadRecord,
    ThreadStatus,
    TurnInProgressError,
    TurnRecord,
)

from . import _codec as codec
from ._sqlite_schema import migrate
from ._sqlite_writer import SQLiteWriter
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

Synchronous = Literal["NORMAL", "FULL"]


class CursorMovedError(StoreError):
    """The thread changed between the caller's read and its write; read again and retry."""

    code = "cursor_moved"


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode.

    Writes go through one writer thread that group-commits; reads run on the caller's thread
    with a connection of its own. `synchronous="NORMAL"` survives process crashes; `"FULL"`
    also survives power loss.

        store = SQLiteStore("threadline.db")
        async with tl.Threadline(agents=[agent], store=store) as app: ...
    """

    def __init__(self, path: str | Path = "threadline.db", *,
                 synchronous: Synchronous = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInputError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = Path(path)
        self.synchronous = synchronous
        self._writer: SQLiteWriter | None = None
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=30.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        migrate(conn)
        return conn

    async def open(self) -> None:
        if self._writer is not None:
            return
        if self.path.parent and not self.path.parent.exists():
            raise InvalidInputError(
                f"the folder of the database does not exist: {self.path.parent}")
        writer = SQLiteWriter(self._connect_writer)
        try:
            writer.start()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        self._writer = writer

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        with self._lock:
            for conn in self._reader_connections:
                conn.close()
            self._reader_connections.clear()
        self._readers = threading.local()

    async def __aenter__(self) -> SQLiteStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _read(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            if self._writer is None:
                raise StoreError("the store is not open: use `async with` or call `await open()`")
            conn = self._connect()
            self._readers.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    async def _write(self, fn: Any) -> Any:
        if self._writer is None:
            raise StoreError("the store is not open: use `async with` or call `await open()`")
        return await self._writer.submit(fn)

    # -- threads -----------------------------------------------------------------------------

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        def write(conn: sqlite3.Connection) -> ThreadRecord:
            if thread.key is not None:
                row = conn.execute(f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE key = ?",
                                   (thread.key,)).fetchone()
                if row is not None:
                    return codec.thread_from_row(row)
            conn.execute(f"INSERT INTO threads ({codec.THREAD_COLUMNS}) VALUES "
                         f"({', '.join('?' * 16)})", codec.thread_row(thread))
            return thread

        return await self._write(write)

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        row = self._read().execute(
            f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        return None if row is None else codec.thread_from_row(row)

    async def list_threads(self, *, user_id: str | None = None,
                           status: ThreadStatus | None = None, limit: int = 20,
                           cursor: str | None = None) -> ThreadPage:
        if limit < 1 or limit > 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        clauses: list[str] = []
        params: list[Any] = []
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if status is None:
            clauses.append("status != 'archived'")
        else:
            clauses.append("status = ?")
            params.append(status)
        if cursor is not None:
            created_at, thread_id = _parse_cursor(cursor)
            clauses.append("(created_at, thread_id) < (?, ?)")
            params += [created_at, thread_id]
        where = " AND ".join(clauses)
        rows = self._read().execute(
            f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE {where} "
            "ORDER BY created_at DESC, thread_id DESC LIMIT ?", (*params, limit + 1)).fetchall()
        threads = [codec.thread_from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = threads[-1]
            next_cursor = f"{last.created_at!r}~{last.thread_id}"
        return ThreadPage(threads=threads, next_cursor=next_cursor)

    async def find_open_thread(self, *, user_id: str, agent: str) -> ThreadRecord | None:
        row = self._read().execute(
            f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE user_id = ? AND agent = ? "
            "AND status != 'archived' ORDER BY created_at DESC, thread_id DESC LIMIT 1",
            (user_id, agent)).fetchone()
        return None if row is None else codec.thread_from_row(row)

    async def update_thread(self, thread_id: str, update: ThreadUpdate) -> ThreadRecord:
        changes = update.changes()

        def write(conn: sqlite3.Connection) -> ThreadRecord:
            assignments = ["updated_at = ?"]
            values: list[Any] = [time.time()]
            for name, value in changes.items():
                assignments.append(f"{name} = ?")
                values.append(codec.dumps(value) if name in ("state", "metadata")
                              and value is not None else value)
            cur = conn.execute(f"UPDATE threads SET {', '.join(assignments)} WHERE thread_id = ?",
                               (*values, thread_id))
            if cur.rowcount == 0:
                raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
            row = conn.execute(f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE thread_id = ?",
                               (thread_id,)).fetchone()
            return codec.thread_from_row(row)

        return await self._write(write)

    async def delete_thread(self, thread_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            for table in ("items", "events", "turns", "inbox"):
                conn.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
            return conn.execute("DELETE FROM threads WHERE thread_id = ?",
                                (thread_id,)).rowcount > 0

        return await self._write(write)

    # -- turns -------------------------------------------------------------------------------

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome:
        return await self._write(functools.partial(_begin_turn, request=request))

    async def write_turn(self, write: TurnWrite) -> None:
        await self._write(functools.partial(_write_turn, write=write))

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        row = self._read().execute(f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE turn_id = ?",
                                   (turn_id,)).fetchone()
        return None if row is None else codec.turn_from_row(row)

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        rows = self._read().execute(
            f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE thread_id = ? ORDER BY number",
            (thread_id,)).fetchall()
        return [codec.turn_from_row(r) for r in rows]

    async def load_items(self, thread_id: str, *, after_seq: int = 0,
                         limit: int | None = None) -> list[Item]:
        rows = self._read().execute(
            f"SELECT {codec.ITEM_COLUMNS} FROM items WHERE thread_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?", (thread_id, after_seq, -1 if limit is None else limit)
        ).fetchall()
        return [codec.item_from_row(r) for r in rows]

    async def load_events(self, thread_id: str, *, after_seq: int = 0,
                          limit: int | None = None) -> list[Event]:
        rows = self._read().execute(
            f"SELECT {codec.EVENT_COLUMNS} FROM events WHERE thread_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?", (thread_id, after_seq, -1 if limit is None else limit)
        ).fetchall()
        return [codec.event_from_row(r) for r in rows]

    # -- inbox -------------------------------------------------------------------------------

    async def enqueue(self, entry: InboxEntry) -> InboxEntry:
        return await self._write(functools.partial(_enqueue, entry=entry))

    async def peek_inbox(self, thread_id: str) -> InboxEntry | None:
        row = self._read().execute(
            f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? ORDER BY position "
            "LIMIT 1", (thread_id,)).fetchone()
        return None if row is None else codec.inbox_from_row(row)

    async def list_inbox(self, thread_id: str) -> list[InboxEntry]:
        rows = self._read().execute(
            f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? ORDER BY position",
            (thread_id,)).fetchall()
        return [codec.inbox_from_row(r) for r in rows]


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, thread_id = cursor.split("~", 1)
        return float(created_at), thread_id
    except ValueError:
        raise InvalidInputError("invalid cursor: pass the next_cursor of a previous page") from None


def _thread_row(conn: sqlite3.Connection, thread_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT active_turn_id, last_item_seq, last_event_seq, turn_count, status "
        "FROM threads WHERE thread_id = ?", (thread_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return row


def _enqueue(conn: sqlite3.Connection, entry: InboxEntry) -> InboxEntry:
    if entry.client_key is not None:
        row = conn.execute(f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? AND "
                           "client_key = ?", (entry.thread_id, entry.client_key)).fetchone()
        if row is not None:
            return codec.inbox_from_row(row)
    _thread_row(conn, entry.thread_id)
    position = conn.execute("SELECT COALESCE(MAX(position), 0) + 1 FROM inbox WHERE thread_id = ?",
                            (entry.thread_id,)).fetchone()[0]
    stored = InboxEntry(entry_id=entry.entry_id, thread_id=entry.thread_id, position=position,
                        input=entry.input, sender=entry.sender, client_key=entry.client_key,
                        created_at=entry.created_at)
    conn.execute(f"INSERT INTO inbox ({codec.INBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 codec.inbox_row(stored))
    return stored


def _begin_turn(conn: sqlite3.Connection, request: BeginTurn) -> BeginOutcome:
    turn = request.turn
    if turn.client_key is not None:
        row = conn.execute(f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE thread_id = ? AND "
                           "client_key = ?", (turn.thread_id, turn.client_key)).fetchone()
        if row is not None:
            return Duplicate(turn=codec.turn_from_row(row), entry=None)
        if request.inbox_entry_id is None:
            row = conn.execute(f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? AND "
                               "client_key = ?", (turn.thread_id, turn.client_key)).fetchone()
            if row is not None:
                return Duplicate(turn=None, entry=codec.inbox_from_row(row))
    active_turn_id, last_item_seq, last_event_seq, turn_count, status = _thread_row(
        conn, turn.thread_id)
    if status == "archived":
        raise InvalidInputError("the thread is archived: unarchive it or start a new thread",
                                thread_id=turn.thread_id)
    if active_turn_id is not None:
        if request.enqueue_if_busy and request.inbox_entry_id is None:
            entry = _enqueue(conn, InboxEntry(
                entry_id=turn.turn_id.replace("turn_", "inbox_", 1), thread_id=turn.thread_id,
                position=0, input=turn.input, sender=turn.sender, client_key=turn.client_key,
                created_at=turn.created_at))
            return Enqueued(entry=entry, active_turn_id=active_turn_id)
        raise TurnInProgressError(
            f"thread {turn.thread_id} already has a running turn ({active_turn_id}); pass "
            "enqueue_if_busy=True to queue the input", thread_id=turn.thread_id,
            active_turn_id=active_turn_id)
    expected = request.expected
    if (last_item_seq, last_event_seq, turn_count) != (
            expected.last_item_seq, expected.last_event_seq, turn.number - 1):
        raise CursorMovedError("the thread changed since it was read", thread_id=turn.thread_id)
    if request.inbox_entry_id is not None and conn.execute(
            "DELETE FROM inbox WHERE entry_id = ?", (request.inbox_entry_id,)).rowcount == 0:
        raise CursorMovedError("the inbox entry was taken by another turn",
                               thread_id=turn.thread_id)
    conn.execute(f"INSERT INTO turns ({codec.TURN_COLUMNS}) VALUES ({', '.join('?' * 13)})",
                 codec.turn_row(turn))
    _insert(conn, request.items, request.events)
    cursor = ThreadCursor(
        last_item_seq=request.items[-1].seq if request.items else last_item_seq,
        last_event_seq=request.events[-1].seq if request.events else last_event_seq)
    conn.execute(
        "UPDATE threads SET active_turn_id = ?, status = 'active', last_item_seq = ?, "
        "last_event_seq = ?, turn_count = ?, updated_at = ? WHERE thread_id = ?",
        (turn.turn_id, cursor.last_item_seq, cursor.last_event_seq, turn.number, turn.created_at,
         turn.thread_id))
    return TurnStarted(turn=turn, cursor=cursor, items=tuple(request.items))


def _insert(conn: sqlite3.Connection, items: Any, events: Any) -> None:
    if items:
        conn.executemany(f"INSERT INTO items ({codec.ITEM_COLUMNS}) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?)", [codec.item_row(i) for i in items])
    if events:
        now = time.time()
        conn.executemany(f"INSERT INTO events ({codec.EVENT_COLUMNS}) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?)", [codec.event_row(e, now) for e in events])


def _write_turn(conn: sqlite3.Connection, write: TurnWrite) -> None:
    now = time.time()
    assignments = "last_item_seq = ?, last_event_seq = ?, updated_at = ?"
    values: list[Any] = [write.cursor.last_item_seq, write.cursor.last_event_seq, now]
    if write.release:
        assignments += ", active_turn_id = NULL, status = 'idle'"
    if write.sets_state:
        assignments += ", state = ?"
        values.append(None if write.thread_state is None else codec.dumps(write.thread_state))
    cur = conn.execute(f"UPDATE threads SET {assignments} WHERE thread_id = ? AND "
                       "active_turn_id = ?", (*values, write.thread_id, write.turn_id))
    if cur.rowcount == 0:
        raise LeaseLost(f"turn {write.turn_id} no longer owns thread {write.thread_id}")
    _insert(conn, write.items, write.events)
    turn_assignments = ["updated_at = ?"]
    turn_values: list[Any] = [now]
    if write.turn_status is not None:
        turn_assignments.append("status = ?")
        turn_values.append(write.turn_status)
        if write.turn_status in ("completed", "failed", "cancelled"):
            turn_assignments.append("completed_at = ?")
            turn_values.append(now)
    if write.usage is not None:
        turn_assignments.append("usage = ?")
        turn_values.append(codec.dumps(write.usage.to_dict()))
    if write.steps is not None:
        turn_assignments.append("steps = ?")
        turn_values.append(write.steps)
    if write.error is not None:
        turn_assignments.append("error = ?")
        turn_values.append(codec.dumps(write.error))
    conn.execute(f"UPDATE turns SET {', '.join(turn_assignments)} WHERE turn_id = ?",
                 (*turn_values, write.turn_id))
