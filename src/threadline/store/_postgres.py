from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from threadline.types import InvalidInputError, StoreError

from . import _ops_leases as leases
from . import _ops_turns as turns
from ._postgres_conn import Runner, backoff, connect_options, logger, store_error
from ._postgres_order import OrderedWrites
from ._postgres_run import dialect_for, run_read, run_write
from ._postgres_schema import check_integrity, migrate
from ._postgres_sql import EVENTS_CHANNEL, WORK_CHANNEL, Connection, Tables, identifier, sql_text
from ._sql import OpFactory
from ._sql_store import SQLStore
from ._writes import TurnWrite, Written

T = TypeVar("T")


class PostgresStore(SQLStore):
    """The shared store: PostgreSQL, for workers and servers on several hosts.

    Tables live in `schema` (created if missing). Connections come from a pool; each write is one
    transaction, and lease arithmetic uses the database's clock. Every write that adds events
    sends `thread_id:last_event_seq` on the `threadline_events` channel, and every write that
    makes work runnable sends the thread id on `threadline_work`; `listen()` receives them.

        store = PostgresStore("postgresql://app@db.internal/app", schema="threadline")
        async with tl.Threadline(agents=[agent], store=store) as app: ...

    Safe behind a transaction-mode pooler such as PgBouncer: no server-side prepared
    statements, no session state (tables are named with their schema in every statement). There,
    pass `statement_timeout=None, idle_in_transaction_timeout=None` and set both on the role, and
    give `listen_url`, a direct connection to the server, since LISTEN needs a session.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str = "public",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        max_lifetime: float = 1800.0,
        max_idle: float = 600.0,
        statement_timeout: float | None = 30.0,
        idle_in_transaction_timeout: float | None = 60.0,
        attempts: int = 4,
        listen_url: str | None = None,
        listen_check_interval: float = 30.0,
    ) -> None:
        if min_size < 0 or max_size < max(1, min_size):
            raise InvalidInputError("the pool needs 0 <= min_size <= max_size and max_size >= 1")
        if attempts < 1:
            raise InvalidInputError("attempts must be at least 1")
        self.url = url
        self.schema = schema
        self.tables = Tables.in_schema(schema)
        self.dialect = dialect_for(self.tables)
        self._ordered = OrderedWrites(self._open_runner, self.dialect)
        self.listen_url = listen_url or url
        self.listen_check_interval = listen_check_interval
        self._kwargs = connect_options(
            url,
            statement_timeout=statement_timeout,
            idle_in_transaction_timeout=idle_in_transaction_timeout,
        )
        self._pool_settings: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": timeout,
            "max_lifetime": max_lifetime,
            "max_idle": max_idle,
        }
        self._attempts = attempts
        self._runner: Runner | None = None

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"  # the URL may hold a password

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        if self._runner is not None:
            return
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self.url,
            kwargs=self._kwargs,
            open=False,
            name=f"threadline-{self.schema}",
            **self._pool_settings,
        )
        try:
            await pool.open(wait=True, timeout=self._pool_settings["timeout"])
            runner = Runner(pool, attempts=self._attempts)
            await runner.read(functools.partial(migrate, tables=self.tables))
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"cannot open the PostgreSQL store: {store_error(exc)}") from exc
            raise
        self._runner = runner

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.drain()
            await runner.pool.close()

    async def __aenter__(self) -> PostgresStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open_runner(self) -> Runner:
        if self._runner is None:
            raise StoreError("the store is not open: use `async with` or call `await open()`")
        return self._runner

    async def _read(self, op: OpFactory[T]) -> T:
        return await self._open_runner().read(lambda conn: run_read(conn, self.dialect, op()))

    async def _write(self, op: OpFactory[T], *, replay_safe: bool = False) -> T:
        dialect = self.dialect
        return await self._open_runner().write(
            lambda conn, commit: run_write(conn, dialect, op, commit), replay_safe=replay_safe
        )

    # A turn's writes, and the hand-back that may follow them, keep their order per thread
    # (see `_postgres_order`): a turn need not wait for one write before it submits the next.
    ordered_writes = True

    async def write_turn(self, write: TurnWrite) -> Written:
        return await self._ordered.submit(write.thread_id, lambda: turns.write_turn(write))

    async def hand_back(self, thread_id: str, epoch: int) -> bool:
        return await self._ordered.submit(thread_id, lambda: leases.hand_back(thread_id, epoch))

    async def check_integrity(self) -> list[str]:
        return await self._open_runner().read(
            functools.partial(check_integrity, tables=self.tables)
        )

    # -- notifications -------------------------------------------------------------------------

    async def listen(self, *channels: str) -> AsyncGenerator[tuple[str, str]]:
        """Notifications as `(channel, payload)`, by default on both of the store's channels.

        Uses a connection of its own (to `listen_url`), outside the pool, and reconnects when
        it is lost. Each time it starts listening, including the first, it yields
        `(channel, "")` for every channel: notifications sent while it was not listening are
        gone, so read the state you follow again. Real payloads are never empty. Close it
        (`aclose()`, or leave an `async for`) to release its connection.

        Channels are per database, not per schema: stores in other schemas of the same
        database notify on them too, so treat a payload as a hint to look, not as a fact.
        """
        names = channels or (EVENTS_CHANNEL, WORK_CHANNEL)
        statements = [f"LISTEN {identifier(name, 'channel')}" for name in names]
        kwargs = {key: value for key, value in self._kwargs.items() if key != "options"}
        failures = 0
        while True:
            conn: Connection | None = None
            try:
                conn = await psycopg.AsyncConnection.connect(self.listen_url, **kwargs)
                for statement in statements:
                    await conn.execute(sql_text(statement))
                failures = 0
                for name in names:
                    yield name, ""
                while True:
                    async for note in conn.notifies(timeout=self.listen_check_interval):
                        yield note.channel, note.payload
                    await conn.execute("SELECT 1")  # a dead peer shows itself here
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                logger.warning(
                    "lost the notification connection (%s); reconnecting",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                )
            finally:
                if conn is not None:
                    await conn.close()
            await asyncio.sleep(backoff(failures, cap=5.0))
            failures += 1
