from __future__ import annotations

import functools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal, TypeVar

from threadline.types import InvalidInputError, StoreError

from ._sql import TABLES, Dialect, Notify, Op, OpFactory, Statement, drive, rows
from ._sql_store import SQLStore
from ._sqlite_reads import select, select_one
from ._sqlite_schema import migrate
from ._sqlite_writer import SQLiteWriter

Synchronous = Literal["NORMAL", "FULL"]
T = TypeVar("T")
MEMORY = ":memory:"

SQLITE = Dialect(
    {
        **{table: table for table in TABLES},
        "now": "((julianday('now') - 2440587.5) * 86400.0)",
        # One writer at a time: what a SELECT read stays true until its write commits.
        "lock": "",
        "skip_locked": "",
        "same": "IS",
        "owner_key_conflict": "",
    },
    placeholder="?",
)


class SQLiteStore(SQLStore):
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

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._readers, "conn", None)
        if conn is None:
            if self._writer is None:
                raise StoreError("the store is not open: use `async with` or call `await open()`")
            conn = self._connect()
            self._readers.conn = conn
            with self._lock:
                self._reader_connections.append(conn)
        return conn

    async def _write(self, op: OpFactory[T], *, replay_safe: bool = False) -> T:
        # One writer: a write is never repeated, so `replay_safe` does not matter here.
        if self._writer is None:
            raise StoreError("the store is not open: use `async with` or call `await open()`")
        return await self._writer.submit(lambda conn: drive(op(), functools.partial(execute, conn)))

    async def _read(self, op: OpFactory[T]) -> T:
        if self.in_memory:
            # Only the writer's connection holds the database: a read joins its next group
            # and answers once that group has committed, so, as on a file, no caller sees a
            # write that is not committed.
            return await self._write(op)
        return drive(op(), functools.partial(execute, self._reader()))

    async def check_integrity(self) -> list[str]:
        def problems() -> Op[list[str]]:
            found = yield rows("PRAGMA integrity_check")
            keys = yield rows("PRAGMA foreign_key_check")
            return [r[0] for r in found if r[0] != "ok"] + [f"foreign key: {r}" for r in keys]

        return await self._read(problems)


def execute(conn: sqlite3.Connection, statement: Statement) -> Any:
    """Run one statement of an operation on the writer's (or a reader's) connection."""
    if isinstance(statement, Notify):
        return None  # nobody listens across processes: followers poll the file
    sql = SQLITE.render(statement.text)
    shape = statement.shape
    if shape == "one":
        return select_one(conn, sql, statement.params, statement.decode)
    if shape == "all":
        return select(conn, sql, statement.params, statement.decode)
    if shape == "many":
        conn.executemany(sql, statement.params)
        return None
    changed = conn.execute(sql, statement.params).rowcount
    return changed > 0 if shape == "fence" else changed
