from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from threadline.types import (
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    StoreError,
    ThreadRecord,
    ThreadStatus,
    TimerRecord,
    TurnRecord,
)

from . import _codec as codec
from . import _postgres_ops as ops
from . import _postgres_timers as timers
from ._postgres_conn import Runner, backoff, connect_options, logger, store_error
from ._postgres_schema import check_integrity, migrate
from ._postgres_sql import (
    EVENTS_CHANNEL,
    NOW,
    WORK_CHANNEL,
    Connection,
    Tables,
    execute,
    fetchall,
    fetchone,
    identifier,
)
from ._sqlite import _parse_cursor  # pyright: ignore[reportPrivateUsage]
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

T = TypeVar("T")


class PostgresStore:
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
            check=AsyncConnectionPool.check_connection,
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

    async def _read(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        return await self._open_runner().read(fn)

    async def _write(
        self, fn: Callable[..., Awaitable[T]], *, replay_safe: bool = False, **kwargs: Any
    ) -> T:
        return await self._open_runner().write(
            functools.partial(fn, t=self.tables, **kwargs), replay_safe=replay_safe
        )

    async def _rows(self, query: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return await self._read(lambda conn: fetchall(conn, query, params))

    async def _row(self, query: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        return await self._read(lambda conn: fetchone(conn, query, params))

    # -- threads -----------------------------------------------------------------------------

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        # With a key, repeating the insert finds the stored thread.
        return await self._write(
            ops.create_thread, thread=thread, replay_safe=thread.key is not None
        )

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        row = await self._row(
            f"SELECT {codec.THREAD_COLUMNS} FROM {self.tables.threads} WHERE thread_id = %s",
            (thread_id,),
        )
        return None if row is None else codec.thread_from_row(row)

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
            clauses.append("user_id = %s")
            params.append(user_id)
        if status is None:
            clauses.append("status != 'archived'")
        else:
            clauses.append("status = %s")
            params.append(status)
        if cursor is not None:
            created_at, thread_id = _parse_cursor(cursor)
            clauses.append("(created_at, thread_id) < (%s, %s)")
            params += [created_at, thread_id]
        rows = await self._rows(
            f"SELECT {codec.THREAD_COLUMNS} FROM {self.tables.threads} WHERE "
            f"{' AND '.join(clauses)} ORDER BY created_at DESC, thread_id DESC LIMIT %s",
            (*params, limit + 1),
        )
        threads = [codec.thread_from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = threads[-1]
            next_cursor = f"{last.created_at!r}~{last.thread_id}"
        return ThreadPage(threads=threads, next_cursor=next_cursor)

    async def find_open_thread(self, *, user_id: str, agent: str) -> ThreadRecord | None:
        row = await self._row(
            f"SELECT {codec.THREAD_COLUMNS} FROM {self.tables.threads} WHERE user_id = %s AND "
            "agent = %s AND status != 'archived' ORDER BY created_at DESC, thread_id DESC "
            "LIMIT 1",
            (user_id, agent),
        )
        return None if row is None else codec.thread_from_row(row)

    async def update_thread(self, thread_id: str, update: ThreadUpdate) -> ThreadRecord:
        return await self._write(
            ops.update_thread, thread_id=thread_id, changes=update.changes(), replay_safe=True
        )

    async def delete_thread(self, thread_id: str) -> bool:
        return await self._write(ops.delete_thread, thread_id=thread_id)

    # -- turns -------------------------------------------------------------------------------

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome:
        # With a client key, a repeat after an unknown commit returns `Duplicate`.
        return await self._write(
            ops.begin_turn, request=request, replay_safe=request.turn.client_key is not None
        )

    async def append_items(self, request: AppendItems) -> None:
        await self._write(ops.append_items, request=request)

    async def write_turn(self, write: TurnWrite) -> Written:
        return await self._write(ops.write_turn, write=write)

    async def acquire_lease(
        self, thread_id: str, turn_id: str, *, owner: str, lease_seconds: float
    ) -> Lease | None:
        return await self._write(
            ops.acquire_lease,
            thread_id=thread_id,
            turn_id=turn_id,
            owner=owner,
            lease_seconds=lease_seconds,
        )

    async def renew_leases(self, owner: str, lease_seconds: float) -> Renewal:
        return await self._write(
            ops.renew_leases, owner=owner, lease_seconds=lease_seconds, replay_safe=True
        )

    async def hand_back(self, thread_id: str, epoch: int) -> bool:
        return await self._write(ops.hand_back, thread_id=thread_id, epoch=epoch)

    async def request_cancel(self, turn_id: str) -> bool:
        return await self._write(ops.request_cancel, turn_id=turn_id, replay_safe=True)

    async def wake(self, thread_id: str) -> None:
        await self._write(ops.wake, thread_id=thread_id, replay_safe=True)

    async def find_work(self, limit: int = 100) -> list[Work]:
        t = self.tables

        async def read(conn: Connection) -> list[Work]:
            work = [
                Work(kind="expired", thread_id=r[0], turn_id=r[1])
                for r in await fetchall(
                    conn,
                    f"SELECT thread_id, active_turn_id FROM {t.threads} WHERE lease_owner IS "
                    f"NOT NULL AND lease_expires_at <= {NOW} ORDER BY lease_expires_at LIMIT %s",
                    (limit,),
                )
            ]
            work += [
                Work(kind="wake", thread_id=r[0], turn_id=r[1])
                for r in await fetchall(
                    conn,
                    f"SELECT thread_id, active_turn_id FROM {t.threads} WHERE wake_at IS NOT "
                    f"NULL AND wake_at <= {NOW} AND lease_owner IS NULL AND active_turn_id IS NOT "
                    "NULL ORDER BY wake_at LIMIT %s",
                    (limit,),
                )
            ]
            work += [
                Work(kind="inbox", thread_id=r[0])
                for r in await fetchall(
                    conn,
                    f"SELECT inbox.thread_id FROM {t.inbox} AS inbox JOIN "
                    f"{t.threads} AS threads ON threads.thread_id = inbox.thread_id WHERE "
                    "threads.active_turn_id IS NULL AND inbox.kind != 'steer' "
                    "GROUP BY inbox.thread_id ORDER BY MIN(inbox.created_at) LIMIT %s",
                    (limit,),
                )
            ]
            return work

        return await self._read(read)

    async def load_tool_states(self, thread_id: str, turn_id: str) -> dict[str, ToolCallState]:
        return {
            r[0]: r[1]
            for r in await self._rows(
                f"SELECT tool_call_id, state FROM {self.tables.tool_calls} WHERE thread_id = %s AND "
                "turn_id = %s",
                (thread_id, turn_id),
            )
        }

    async def db_time(self) -> float:
        row = await self._row(f"SELECT {NOW}", ())
        assert row is not None
        return float(row[0])

    async def check_integrity(self) -> list[str]:
        return await self._read(functools.partial(check_integrity, tables=self.tables))

    # -- timers ------------------------------------------------------------------------------

    async def schedule_timer(self, timer: TimerRecord) -> TimerRecord:
        return await self._write(ops.schedule_timer, timer=timer)

    async def cancel_timer(self, thread_id: str, timer_id: str) -> bool:
        return await self._write(timers.cancel_timer, thread_id=thread_id, timer_id=timer_id)

    async def list_timers(self, thread_id: str, *, pending_only: bool = True) -> list[TimerRecord]:
        where = "thread_id = %s" + (" AND status = 'pending'" if pending_only else "")
        return [
            codec.timer_from_row(r)
            for r in await self._rows(
                f"SELECT {codec.TIMER_COLUMNS} FROM {self.tables.timers} WHERE {where} "
                "ORDER BY due_at",
                (thread_id,),
            )
        ]

    async def fire_due_timers(self, limit: int = 100) -> list[TimerRecord]:
        # A repeat after an unknown commit finds those timers fired: none fires twice.
        return await self._write(timers.fire_due_timers, limit=limit, replay_safe=True)

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        row = await self._row(
            f"SELECT {codec.TURN_COLUMNS} FROM {self.tables.turns} WHERE turn_id = %s", (turn_id,)
        )
        return None if row is None else codec.turn_from_row(row)

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        return [
            codec.turn_from_row(r)
            for r in await self._rows(
                f"SELECT {codec.TURN_COLUMNS} FROM {self.tables.turns} WHERE thread_id = %s "
                "ORDER BY number",
                (thread_id,),
            )
        ]

    async def load_items(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Item]:
        return [
            codec.item_from_row(r)
            for r in await self._rows(
                f"SELECT {codec.ITEM_COLUMNS} FROM {self.tables.items} WHERE thread_id = %s AND "
                "seq > %s ORDER BY seq LIMIT %s",
                (thread_id, after_seq, limit),
            )
        ]

    async def query_items(self, query: ItemQuery) -> list[Item]:
        statement = codec.item_query(query, self.tables.items, "%s")
        if statement is None:
            return []
        return [codec.item_from_row(r) for r in await self._rows(*statement)]

    async def load_events(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        return [
            codec.event_from_row(r)
            for r in await self._rows(
                f"{codec.events_with_items(self.tables.events, self.tables.items)} "
                "WHERE e.thread_id = %s AND e.seq > %s ORDER BY e.seq LIMIT %s",
                (thread_id, after_seq, limit),
            )
        ]

    # -- inbox -------------------------------------------------------------------------------

    async def enqueue(self, entry: InboxEntry) -> InboxEntry:
        # With a client key, a repeat after an unknown commit returns the stored entry.
        return await self._write(ops.enqueue, entry=entry, replay_safe=entry.client_key is not None)

    async def peek_inbox(self, thread_id: str) -> InboxEntry | None:
        row = await self._row(
            f"SELECT {codec.INBOX_COLUMNS} FROM {self.tables.inbox} WHERE thread_id = %s AND "
            "kind != 'steer' ORDER BY position LIMIT 1",
            (thread_id,),
        )
        return None if row is None else codec.inbox_from_row(row)

    async def steering(self, thread_id: str) -> list[InboxEntry]:
        """The thread's entries waiting to join its running turn, oldest first."""
        return [
            codec.inbox_from_row(r)
            for r in await self._rows(
                f"SELECT {codec.INBOX_COLUMNS} FROM {self.tables.inbox} WHERE thread_id = %s AND "
                "kind = 'steer' ORDER BY position",
                (thread_id,),
            )
        ]

    async def list_inbox(self, thread_id: str) -> list[InboxEntry]:
        return [
            codec.inbox_from_row(r)
            for r in await self._rows(
                f"SELECT {codec.INBOX_COLUMNS} FROM {self.tables.inbox} WHERE thread_id = %s "
                "ORDER BY position",
                (thread_id,),
            )
        ]

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
                    await execute(conn, statement)
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
