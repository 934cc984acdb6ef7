"""The single SQLite writer: one thread, one connection, group commit.

Callers on any event loop submit a function of the connection; the writer runs every pending
function in one `BEGIN IMMEDIATE` transaction (each inside its own savepoint, so one failing
write leaves the others intact), commits once, and only then resolves the callers' futures. So
a write that returned is durable, and concurrent turns share one fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from threadline.types import StoreError

from ._sqlite_reads import store_error

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]

_MAX_GROUP = 256
_STOP = object()


class _Pending:
    __slots__ = ("fn", "future", "loop")

    def __init__(self, fn: WriteFn, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.fn = fn
        self.future = future
        self.loop = loop


def _settle(batch: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in batch:
        if future.done():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class SQLiteWriter:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="threadline-sqlite-writer", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    async def submit(self, fn: WriteFn) -> Any:
        if self._thread is None:
            raise StoreError("the store is not open: use `async with` or call `await open()`")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Pending(fn, future, loop))
        # The write commits even if the caller is cancelled: durability does not depend on who
        # is still waiting.
        return await asyncio.shield(future)

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group: list[_Pending] = [first]
                stop_after = False
                while len(group) < _MAX_GROUP:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stop_after = True
                        break
                    group.append(more)
                self._commit_group(conn, group)
                if stop_after:
                    return
        finally:
            conn.close()

    def _commit_group(self, conn: sqlite3.Connection, group: list[_Pending]) -> None:
        outcomes: list[tuple[_Pending, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            if len(group) == 1:
                # Alone in its transaction, a write needs no savepoint: failing, it rolls back
                # the transaction.
                outcomes.append(_attempt(conn, group[0]))
                conn.execute("COMMIT" if outcomes[0][1] else "ROLLBACK")
            else:
                for pending in group:
                    conn.execute("SAVEPOINT w")
                    outcomes.append(_attempt(conn, pending))
                    if not outcomes[-1][1]:  # the caller receives it; the others go on
                        conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            error = store_error(exc, action="the write")
            outcomes = [(p, False, error) for p in group]
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for pending, ok, value in outcomes:
            by_loop.setdefault(pending.loop, []).append((pending.future, ok, value))
        for loop, batch in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop has nobody waiting
                loop.call_soon_threadsafe(_settle, batch)


def _attempt(conn: sqlite3.Connection, pending: _Pending) -> tuple[_Pending, bool, Any]:
    try:
        return pending, True, pending.fn(conn)
    except BaseException as exc:
        return pending, False, _as_exception(exc)


def _as_exception(exc: BaseException) -> BaseException:
    return store_error(exc, action="the write") if isinstance(exc, sqlite3.Error) else exc
