"""How PostgreSQL runs the store's operations (see `_sql`): a step of a turn in one round trip.

A write's statements are collected, not sent, until the operation needs a result to decide
(a row it reads, such as a thread row it locks) or ends: then everything collected goes to the
server as one query string (`BEGIN; ...; COMMIT`), with the values bound client-side by
psycopg. One message and one round trip a batch: pipelining the same statements costs three
times the client CPU.

A fence (a write that must change a row, such as the lease-holding UPDATE of a turn's step)
cannot wait for its row count without a round trip, so it is sent as a statement that fails
when it changes nothing: the failure aborts the transaction, so nothing of the write is
applied, and the operation runs again statement by statement to find out which error to
raise. That second run happens only when a write is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncClientCursor, AsyncCursor
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from ._postgres_conn import Commit
from ._postgres_schema import OWNER_KEY
from ._postgres_sql import (
    EVENTS_CHANNEL,
    NOW,
    WORK_CHANNEL,
    Connection,
    Tables,
    sql_text,
    unmatchable,
)
from ._sql import TABLES, Dialect, Notify, Op, OpFactory, Sql, Statement

T = TypeVar("T")

_EMPTY: dict[str, Any] = {"one": None, "all": [], "count": 0, "fence": False, "run": None}
_MAX_PARAMETERS = 65535  # what one statement of the extended protocol can bind


def dialect_for(tables: Tables) -> Dialect:
    return Dialect(
        {
            **{table: getattr(tables, table) for table in TABLES},
            "now": NOW,
            "lock": "FOR UPDATE",
            "skip_locked": "FOR UPDATE SKIP LOCKED",
            "same": "IS NOT DISTINCT FROM",
            "owner_key_conflict": f"ON CONFLICT {OWNER_KEY} DO NOTHING",
        },
        placeholder="%s",
    )


class FenceFailed(Exception):
    """A fence changed no row: the transaction was rolled back and nothing was applied."""


async def run_read(conn: Connection, dialect: Dialect, op: Op[T]) -> T:
    """Run `op` statement by statement (a read, or a write inside the caller's transaction)."""
    try:
        statement = next(op)
        while True:
            statement = op.send(await _execute(conn, dialect, statement))
    except StopIteration as done:
        return done.value


async def run_write(conn: Connection, dialect: Dialect, op: OpFactory[T], commit: Commit) -> T:
    try:
        (outcome,) = await _Batch(conn, dialect, commit).run([op()])
        return outcome
    except FenceFailed:
        pass
    async with conn.transaction():
        outcome = await run_read(conn, dialect, op())
        commit.sent = True
    return outcome


async def run_group(
    conn: Connection, dialect: Dialect, ops: Sequence[OpFactory[Any]], commit: Commit
) -> list[Any]:
    """Several writes in one transaction, in order; raises if any of them fails (then none
    is applied: run them one by one to find out which)."""
    return await _Batch(conn, dialect, commit).run([op() for op in ops])


class _Batch:
    """Writes in one transaction, sent as few query strings as their decisions allow."""

    def __init__(self, conn: Connection, dialect: Dialect, commit: Commit) -> None:
        self.conn = conn
        self.dialect = dialect
        self.commit = commit
        self.cursor: AsyncClientCursor[TupleRow] = AsyncClientCursor(conn)
        self.parts: list[str] = ["BEGIN"]
        # Final statements collected and not sent: (their index in `parts`, the statement,
        # the operation that waits for the result)
        self.waiting: list[tuple[int, Sql, int]] = []
        self.finals: dict[int, Any] = {}  # operation -> the result of its final statement

    def add(self, text: str, params: Sequence[Any] = ()) -> None:
        self.parts.append(self.cursor.mogrify(sql_text(text), params))

    async def run(self, ops: Sequence[Op[Any]]) -> list[Any]:
        try:
            return await self._run(ops)
        except BaseException as exc:
            if self.conn.info.transaction_status != TransactionStatus.IDLE:
                with contextlib.suppress(psycopg.Error):
                    await self.conn.execute("ROLLBACK")
            if isinstance(exc, psycopg.errors.DivisionByZero):
                raise FenceFailed from None
            raise

    async def _run(self, ops: Sequence[Op[Any]]) -> list[Any]:
        outcomes: list[Any] = [None] * len(ops)
        open_ops: list[int] = []
        for n, op in enumerate(ops):
            ended, value = await self._advance(op, n)
            if ended:
                outcomes[n] = value
            else:
                open_ops.append(n)
        self.parts.append("COMMIT")
        self.commit.sent = True
        await self._flush()
        for n in open_ops:  # each was waiting for its final statement's result
            try:
                ops[n].send(self.finals[n])
            except StopIteration as done:
                outcomes[n] = done.value
            else:
                raise AssertionError("a final statement must be the last of its operation")
        return outcomes

    async def _advance(self, op: Op[Any], n: int) -> tuple[bool, Any]:
        """Collect `op`'s statements until it ends (True, its outcome) or waits for the result
        of its final statement (False, None)."""
        try:
            statement = next(op)
            while True:
                if isinstance(statement, Notify):
                    for text, params in _notifications(self.dialect, statement):
                        self.add(text, params)
                    statement = op.send(None)
                    continue
                shape = statement.shape
                if shape != "many" and unmatchable(statement.params):
                    statement = op.send(_EMPTY[shape])
                    continue
                text = self.dialect.render(statement.text)
                result: Any = None
                if shape == "many":
                    for chunk_text, values in _rows_insert(text, statement.params):
                        self.add(chunk_text, values)
                elif shape == "run":
                    self.add(text, statement.params)
                elif shape == "fence":
                    # Division by zero when nothing changed: the transaction aborts, and
                    # `run_write` runs the operation again to say why.
                    self.add(
                        f"WITH fenced AS ({text} RETURNING 1) SELECT 1 / count(*) FROM fenced",
                        statement.params,
                    )
                    result = True
                else:
                    self.add(_counted(text) if shape == "count" else text, statement.params)
                    if statement.final:
                        self.waiting.append((len(self.parts) - 1, statement, n))
                        return False, None
                    result = await self._flush(statement)
                statement = op.send(result)
        except StopIteration as done:
            return True, done.value

    async def _flush(self, read: Sql | None = None) -> Any:
        """Send what is collected; keep the results of the final statements among it, and
        return that of its last statement, `read`, if given."""
        parts, self.parts = self.parts, []
        waiting, self.waiting = self.waiting, []
        await self.cursor.execute(sql_text(";".join(parts)))
        wanted = [(index, statement) for index, statement, _ in waiting]
        if read is not None:
            wanted.append((len(parts) - 1, read))
        results: dict[int, Any] = {}
        at = 0
        for index, statement in wanted:  # in the order they were added: one result each
            for _ in range(index - at):
                self.cursor.nextset()
            at = index
            results[index] = await _read(self.cursor, statement)
        for index, _, n in waiting:
            self.finals[n] = results[index]
        return None if read is None else results[len(parts) - 1]


async def _execute(conn: Connection, dialect: Dialect, statement: Statement) -> Any:
    if isinstance(statement, Notify):
        for text, params in _notifications(dialect, statement):
            await conn.execute(sql_text(text), params)
        return None
    shape = statement.shape
    params = statement.params
    if shape != "many" and unmatchable(params):
        return _EMPTY[shape]
    text = dialect.render(statement.text)
    if shape == "many":
        for chunk_text, values in _rows_insert(text, params):
            await conn.execute(sql_text(chunk_text), values)
        return None
    if shape == "run":
        await conn.execute(sql_text(text), params)
        return None
    query = _counted(text) if shape in ("count", "fence") else text
    return await _read(await conn.execute(sql_text(query), params), statement)


async def _read(cursor: AsyncCursor[TupleRow], statement: Sql) -> Any:
    """What the operation receives for `statement`, from its result on `cursor`."""
    if statement.shape in ("count", "fence"):
        row = await cursor.fetchone()
        changed = 0 if row is None else int(row[0])
        return changed > 0 if statement.shape == "fence" else changed
    decode = statement.decode
    if statement.shape == "one":
        row = await cursor.fetchone()
        return row if row is None or decode is None else decode(row)
    found = await cursor.fetchall()
    return found if decode is None else [decode(row) for row in found]


def _counted(text: str) -> str:
    # Counted by the server, in a row, as every result of a batch is read.
    return f"WITH changed AS ({text} RETURNING 1) SELECT count(*) FROM changed"


def _rows_insert(text: str, param_rows: Sequence[Sequence[Any]]) -> list[tuple[str, list[Any]]]:
    """One INSERT of many rows (a statement per `_MAX_PARAMETERS` values), not one per row,
    where the statement lists its VALUES."""
    if not param_rows:
        return []
    width = len(param_rows[0])
    one_row = "(" + ", ".join(["%s"] * width) + ")"
    if one_row not in text:  # INSERT ... SELECT: a statement a row
        return [(text, list(row)) for row in param_rows]
    head, tail = text.split(one_row, 1)
    chunk = _MAX_PARAMETERS // width
    return [
        (
            head + ", ".join([one_row] * len(param_rows[start : start + chunk])) + tail,
            [value for row in param_rows[start : start + chunk] for value in row],
        )
        for start in range(0, len(param_rows), chunk)
    ]


def _notifications(dialect: Dialect, note: Notify) -> list[tuple[str, Sequence[Any]]]:
    # pg_notify inside the write's transaction: delivered when, and only if, it commits.
    sent: list[tuple[str, Sequence[Any]]] = []
    if note.events is not None:
        thread_id, seq = note.events
        sent.append((f"SELECT pg_notify('{EVENTS_CHANNEL}', %s)", (f"{thread_id}:{seq}",)))
    for thread_id in dict.fromkeys(note.work):
        sent.append((f"SELECT pg_notify('{WORK_CHANNEL}', %s)", (thread_id,)))
    if note.work_if_queued is not None:
        inbox = dialect.render("{inbox}")
        sent.append(
            (
                f"SELECT pg_notify('{WORK_CHANNEL}', %s) WHERE EXISTS (SELECT 1 FROM {inbox} "
                "WHERE thread_id = %s AND kind != 'steer')",
                (note.work_if_queued, note.work_if_queued),
            )
        )
    return sent
