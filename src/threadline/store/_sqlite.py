from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from threadline.types import (
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    NotFoundError,
    StoreError,
    ThreadRecord,
    ThreadStatus,
    TimerRecord,
    TurnRecord,
)

from . import _codec as codec
from . import _sqlite_ops as ops  # pyright: ignore[reportPrivateUsage]
from ._sqlite_reads import rows, select, select_one
from ._sqlite_schema import migrate
from ._sqlite_writer import SQLiteWriter
from ._writes import (
    AppendItems,
    BeginOutcome,
    BeginTurn,
    ItemQuery,
    Lease,
    Renewal,
    ThreadPage,
    ThreadUpdate,
    ToolCallState,
    TurnWrite,
    Work,
    Written,
)

Synchronous = Literal["NORMAL", "FULL"]
T = TypeVar("T")
MEMORY = ":memory:"


class SQLiteStore:
    """The embedded store: one SQLite file in WAL mode.

    Writes go through one writer thread that group-commits; reads run on the caller's thread
    with a connection of its own. `synchronous="NORMAL"` survives process crashes; `"FULL"`
    also survives power loss. `":memory:"` keeps a database of its own in memory, gone on
    `close()` (tests, notebooks, stateless runs); there the writer's connection also reads.

        store = SQLiteStore("threadline.db")
        async with tl.Threadline(agents=[agent], store=store) as app: ...
    """

    # One writer thread takes writes in the order they are submitted.
    ordered_writes = True

    def __init__(
        self, path: str | Path = "threadline.db", *, synchronous: Synchronous = "NORMAL"
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInputError("synchronous must be 'NORMAL' or 'FULL'")
        self.path = Path(path)
        self.synchronous = synchronous
        self.in_memory = str(path) == MEMORY
        self._writer: SQLiteWriter | None = None
        self._readers = threading.local()
        self._reader_connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        if self.in_memory:  # a database of this connection's own: no journal file, no waiting
            return conn
        # Switching a new file to WAL does not wait on the busy timeout: processes opening
        # the same new database at once take turns here.
        for attempt in range(100):
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)
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
        if not self.in_memory and not self.path.parent.exists():
            raise InvalidInputError(
                f"the folder of the database does not exist: {self.path.parent}"
            )
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

    async def _reading(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.in_memory:
            # Only the writer's connection holds the database: a read joins its next group
            # and answers once that group has committed, so, as on a file, no caller sees a
            # write that is not committed.
            return await self._write(fn)
        return fn(self._read())

    async def _all(self, sql: str, params: tuple[Any, ...], decode: codec.Decoder[T]) -> list[T]:
        return await self._reading(lambda conn: select(conn, sql, params, decode))

    async def _one(self, sql: str, params: tuple[Any, ...], decode: codec.Decoder[T]) -> T | None:
        return await self._reading(lambda conn: select_one(conn, sql, params, decode))

    # -- threads -----------------------------------------------------------------------------

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        codec.check_thread(thread)

        def write(conn: sqlite3.Connection) -> ThreadRecord:
            if thread.key is not None:
                existing = select_one(
                    conn,
                    f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE key = ? AND user_id IS ?",
                    (thread.key, thread.user_id),
                    codec.thread_from_row,
                )
                if existing is not None:
                    return existing
            conn.execute(
                f"INSERT INTO threads ({codec.THREAD_COLUMNS}) VALUES "
                f"({codec.THREAD_PLACEHOLDERS})",
                codec.thread_row(thread),
            )
            return thread

        return await self._write(write)

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return await self._one(
            f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE thread_id = ?",
            (thread_id,),
            codec.thread_from_row,
        )

    async def list_threads(
        self,
        *,
        user_id: str | None = None,
        status: ThreadStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> ThreadPage:
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
        found = await self._all(
            f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE {where} "
            "ORDER BY created_at DESC, thread_id DESC LIMIT ?",
            (*params, limit + 1),
            codec.thread_from_row,
        )
        threads = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = threads[-1]
            next_cursor = f"{last.created_at!r}~{last.thread_id}"
        return ThreadPage(threads=threads, next_cursor=next_cursor)

    async def find_open_thread(self, *, user_id: str, agent: str) -> ThreadRecord | None:
        return await self._one(
            f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE user_id = ? AND agent = ? "
            "AND status != 'archived' ORDER BY created_at DESC, thread_id DESC LIMIT 1",
            (user_id, agent),
            codec.thread_from_row,
        )

    async def update_thread(self, thread_id: str, update: ThreadUpdate) -> ThreadRecord:
        changes = update.changes()
        codec.check_text(mode=changes.get("mode"), status=changes.get("status"))

        def write(conn: sqlite3.Connection) -> ThreadRecord:
            assignments = ["updated_at = ?"]
            values: list[Any] = [time.time()]
            for name, value in changes.items():
                assignments.append(f"{name} = ?")
                values.append(
                    codec.dumps(value)
                    if name in ("state", "metadata") and value is not None
                    else value
                )
            cur = conn.execute(
                f"UPDATE threads SET {', '.join(assignments)} WHERE thread_id = ?",
                (*values, thread_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
            updated = select_one(
                conn,
                f"SELECT {codec.THREAD_COLUMNS} FROM threads WHERE thread_id = ?",
                (thread_id,),
                codec.thread_from_row,
            )
            assert updated is not None
            return updated

        return await self._write(write)

    async def delete_thread(self, thread_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            for table in ("items", "events", "turns", "inbox", "tool_calls", "timers"):
                conn.execute(f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
            return (
                conn.execute("DELETE FROM threads WHERE thread_id = ?", (thread_id,)).rowcount > 0
            )

        return await self._write(write)

    # -- turns -------------------------------------------------------------------------------

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome:
        return await self._write(functools.partial(ops.begin_turn, request=request))

    async def append_items(self, request: AppendItems) -> None:
        await self._write(functools.partial(ops.append_items, request=request))

    async def write_turn(self, write: TurnWrite) -> Written:
        return await self._write(functools.partial(ops.write_turn, write=write))

    async def acquire_lease(
        self, thread_id: str, turn_id: str, *, owner: str, lease_seconds: float
    ) -> Lease | None:
        return await self._write(
            functools.partial(
                ops.acquire_lease,
                thread_id=thread_id,
                turn_id=turn_id,
                owner=owner,
                lease_seconds=lease_seconds,
            )
        )

    async def renew_leases(self, owner: str, lease_seconds: float) -> Renewal:
        return await self._write(
            functools.partial(ops.renew_leases, owner=owner, lease_seconds=lease_seconds)
        )

    async def hand_back(self, thread_id: str, epoch: int) -> bool:
        return await self._write(functools.partial(ops.hand_back, thread_id=thread_id, epoch=epoch))

    async def request_cancel(self, turn_id: str) -> bool:
        return await self._write(functools.partial(ops.request_cancel, turn_id=turn_id))

    async def wake(self, thread_id: str) -> None:
        await self._write(functools.partial(ops.wake, thread_id=thread_id))

    async def find_work(self, limit: int = 100) -> list[Work]:
        def read(conn: sqlite3.Connection) -> list[Work]:
            work = [
                Work(kind="expired", thread_id=r[0], turn_id=r[1])
                for r in rows(
                    conn,
                    "SELECT thread_id, active_turn_id FROM threads WHERE lease_owner IS NOT NULL "
                    f"AND lease_expires_at <= {ops.NOW} ORDER BY lease_expires_at LIMIT ?",
                    (limit,),
                )
            ]
            work += [
                Work(kind="wake", thread_id=r[0], turn_id=r[1])
                for r in rows(
                    conn,
                    "SELECT thread_id, active_turn_id FROM threads WHERE wake_at IS NOT NULL AND "
                    f"wake_at <= {ops.NOW} AND lease_owner IS NULL AND active_turn_id IS NOT "
                    "NULL ORDER BY wake_at LIMIT ?",
                    (limit,),
                )
            ]
            work += [
                Work(kind="inbox", thread_id=r[0])
                for r in rows(
                    conn,
                    "SELECT inbox.thread_id FROM inbox JOIN threads ON threads.thread_id = "
                    "inbox.thread_id WHERE threads.active_turn_id IS NULL AND inbox.kind != "
                    "'steer' GROUP BY inbox.thread_id ORDER BY MIN(inbox.created_at) LIMIT ?",
                    (limit,),
                )
            ]
            return work

        return await self._reading(read)

    async def load_tool_states(self, thread_id: str, turn_id: str) -> dict[str, ToolCallState]:
        found = await self._reading(
            lambda conn: rows(
                conn,
                "SELECT tool_call_id, state FROM tool_calls WHERE thread_id = ? AND turn_id = ?",
                (thread_id, turn_id),
            )
        )
        return {r[0]: r[1] for r in found}

    async def db_time(self) -> float:
        return await self._reading(ops.db_now)

    async def check_integrity(self) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[str]:
            problems = [r[0] for r in rows(conn, "PRAGMA integrity_check") if r[0] != "ok"]
            return problems + [f"foreign key: {r}" for r in rows(conn, "PRAGMA foreign_key_check")]

        return await self._reading(read)

    # -- timers ------------------------------------------------------------------------------

    async def schedule_timer(self, timer: TimerRecord) -> TimerRecord:
        return await self._write(functools.partial(ops.schedule_timer, timer=timer))

    async def cancel_timer(self, thread_id: str, timer_id: str) -> bool:
        return await self._write(
            functools.partial(ops.cancel_timer, thread_id=thread_id, timer_id=timer_id)
        )

    async def list_timers(self, thread_id: str, *, pending_only: bool = True) -> list[TimerRecord]:
        where = "thread_id = ?" + (" AND status = 'pending'" if pending_only else "")
        return await self._all(
            f"SELECT {codec.TIMER_COLUMNS} FROM timers WHERE {where} ORDER BY due_at",
            (thread_id,),
            codec.timer_from_row,
        )

    async def fire_due_timers(self, limit: int = 100) -> list[TimerRecord]:
        return await self._write(functools.partial(ops.fire_due_timers, limit=limit))

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        return await self._one(
            f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE turn_id = ?",
            (turn_id,),
            codec.turn_from_row,
        )

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        return await self._all(
            f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE thread_id = ? ORDER BY number",
            (thread_id,),
            codec.turn_from_row,
        )

    async def load_items(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Item]:
        return await self._all(
            f"SELECT {codec.ITEM_COLUMNS} FROM items WHERE thread_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (thread_id, after_seq, -1 if limit is None else limit),
            codec.item_from_row,
        )

    async def query_items(self, query: ItemQuery) -> list[Item]:
        statement = codec.item_query(query, "items", "?")
        if statement is None:
            return []
        return await self._all(*statement, codec.item_from_row)

    async def load_events(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        return await self._all(
            f"{codec.events_with_items()} WHERE e.thread_id = ? AND e.seq > ? ORDER BY e.seq "
            "LIMIT ?",
            (thread_id, after_seq, -1 if limit is None else limit),
            codec.event_from_row,
        )

    # -- inbox -------------------------------------------------------------------------------

    async def enqueue(self, entry: InboxEntry) -> InboxEntry:
        return await self._write(functools.partial(ops.enqueue, entry=entry))

    async def peek_inbox(self, thread_id: str) -> InboxEntry | None:
        return await self._one(
            f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? AND kind != 'steer' "
            "ORDER BY position LIMIT 1",
            (thread_id,),
            codec.inbox_from_row,
        )

    async def steering(self, thread_id: str) -> list[InboxEntry]:
        """The thread's entries waiting to join its running turn, oldest first."""
        return await self._all(
            f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? AND kind = 'steer' "
            "ORDER BY position",
            (thread_id,),
            codec.inbox_from_row,
        )

    async def list_inbox(self, thread_id: str) -> list[InboxEntry]:
        return await self._all(
            f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? ORDER BY position",
            (thread_id,),
            codec.inbox_from_row,
        )


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, thread_id = cursor.split("~", 1)
        return float(created_at), thread_id
    except ValueError:
        raise InvalidInputError("invalid cursor: pass the next_cursor of a previous page") from None
