"""Connections of the PostgreSQL store: the pool, transactions, and when to try again.

Retry policy. Only errors that say the connection (or the server session) went away are tried
again, with jittered exponential backoff and a bounded number of attempts; constraint, data and
programming errors, and statement timeouts, fail at once. A read is always safe to repeat. A
write is safe to repeat whenever its transaction certainly did not commit: the connection broke
before COMMIT was sent (the server rolls the transaction back), or the server said it rolled it
back (deadlock, serialization failure). If the connection breaks *during* COMMIT nobody knows
whether it committed: only writes that find their own row when repeated (`replay_safe`) are tried
again; the others raise `StoreError` saying the outcome is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from threadline.types import StoreError

from ._postgres_sql import Connection


@dataclass(slots=True)
class Commit:
    """Set once a write's COMMIT is on its way: from then on, a broken connection leaves its
    outcome unknown."""

    sent: bool = False


logger = logging.getLogger("threadline.store")

T = TypeVar("T")

# Server said the session ended (admin shutdown, crash, starting up), or it rolled the
# transaction back on its own (serialization failure, deadlock).
_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "40001", "40P01"})
_ROLLED_BACK_STATES = frozenset({"40001", "40P01"})


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PoolTimeout):
        return False  # the pool already waited its whole timeout for a connection
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in _TRANSIENT_STATES


def backoff(attempt: int, *, base: float = 0.05, cap: float = 2.0) -> float:
    return min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)


def _message(exc: psycopg.Error) -> str:
    # The primary message only: DETAIL lines quote the row's values, which may be secrets.
    primary = exc.diag.message_primary
    return primary if primary else (str(exc).splitlines() or [type(exc).__name__])[0]


def store_error(exc: psycopg.Error) -> StoreError:
    if isinstance(exc, PoolTimeout):
        return StoreError(f"no database connection became available: {_message(exc)}")
    if isinstance(exc, psycopg.IntegrityError):
        return StoreError(
            f"a constraint refused the write: {_message(exc)}", constraint=exc.diag.constraint_name
        )
    if is_transient(exc):
        return StoreError(f"the database connection failed: {_message(exc)}")
    return StoreError(f"the database refused the request: {_message(exc)}")


class Runner:
    def __init__(self, pool: AsyncConnectionPool[Connection], *, attempts: int) -> None:
        self.pool = pool
        self.attempts = attempts
        self._writes: set[asyncio.Task[Any]] = set()

    async def read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        for attempt in range(self.attempts):
            try:
                async with self.pool.connection() as conn:
                    return await fn(conn)
            except psycopg.Error as exc:
                if not is_transient(exc) or attempt == self.attempts - 1:
                    raise store_error(exc) from exc
                logger.warning("database read failed (%s); trying again", _message(exc))
            await asyncio.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    async def write(
        self, fn: Callable[[Connection, Commit], Awaitable[T]], *, replay_safe: bool
    ) -> T:
        """Run `fn`, which opens and commits its transaction, marking when COMMIT is sent."""
        # The write finishes even if the caller is cancelled, as the SQLite store's writes do:
        # whether a write happened never depends on who still waits.
        task = asyncio.ensure_future(self._write(fn, replay_safe))
        self._writes.add(task)
        task.add_done_callback(_forget(self._writes))
        return await asyncio.shield(task)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Have `drain` wait for `task`, a write that runs on its own."""
        self._writes.add(task)
        task.add_done_callback(_forget(self._writes))

    async def drain(self) -> None:
        while self._writes:
            await asyncio.wait(list(self._writes))

    async def _write(
        self, fn: Callable[[Connection, Commit], Awaitable[T]], replay_safe: bool
    ) -> T:
        for attempt in range(self.attempts):
            commit = Commit()
            committed: list[T] = []
            try:
                async with self.pool.connection() as conn:
                    committed.append(await fn(conn, commit))
                return committed[0]
            except psycopg.Error as exc:
                if committed:  # only giving the connection back failed
                    return committed[0]
                if not is_transient(exc):
                    raise store_error(exc) from exc
                if commit.sent and not replay_safe and exc.sqlstate not in _ROLLED_BACK_STATES:
                    raise StoreError(
                        "the database connection broke while the write was committing, so it "
                        "may or may not have been applied: read the thread again to find out "
                        f"({_message(exc)})"
                    ) from exc
                if attempt == self.attempts - 1:
                    raise StoreError(
                        f"the database connection failed {self.attempts} times: {_message(exc)}"
                    ) from exc
                logger.warning("database write failed (%s); trying again", _message(exc))
            await asyncio.sleep(backoff(attempt))
        raise AssertionError("unreachable")


def _forget(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller that left does not want it logged

    return done


def connect_options(
    conninfo: str, *, statement_timeout: float | None, idle_in_transaction_timeout: float | None
) -> dict[str, Any]:
    # The timeouts travel in the startup packet (`options`) rather than as SET statements, so
    # nothing changes session state after connecting. PgBouncer refuses startup options it does
    # not track: behind it pass None and set them on the role (ALTER ROLE ... SET).
    settings: list[str] = []
    if statement_timeout is not None:
        settings.append(f"-c statement_timeout={round(statement_timeout * 1000)}")
    if idle_in_transaction_timeout is not None:
        settings.append(
            f"-c idle_in_transaction_session_timeout={round(idle_in_transaction_timeout * 1000)}"
        )
    kwargs: dict[str, Any] = {
        "autocommit": True,
        "prepare_threshold": None,
        "client_encoding": "UTF8",
    }
    if settings:
        given = conninfo_to_dict(conninfo).get("options")
        kwargs["options"] = " ".join([*([str(given)] if given else []), *settings])
    return kwargs
