"""How PostgreSQL runs the store's operations (see `_sql`): pipelined, one round trip a step.

A write's statements are sent without waiting for each other's results, in one pipeline, and
its COMMIT with them; the operation waits only where it must decide from a result (a row it
reads, say a thread row it locks). A fence (a write that must change a row, such as the
lease-holding UPDATE of a turn's step) cannot wait for its row count without a round trip, so
it is sent as a statement that fails when it changes nothing: the failure aborts the pipeline,
so nothing after it is applied, and the operation runs again statement by statement to find
out which error to raise. That second run happens only when a write is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncCursor
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
    """A fence changed no row: the pipeline was aborted and nothing was applied."""


async def run_read(conn: Connection, dialect: Dialect, op: Op[T]) -> T:
    try:
        statement = next(op)
        while True:
            statement = op.send(await _execute(conn, dialect, statement, pipelined=False))
    except StopIteration as done:
        return done.value


async def run_write(conn: Connection, dialect: Dialect, op: OpFactory[T], commit: Commit) -> T:
    try:
        return await _run_pipelined(conn, dialect, op(), commit)
    except FenceFailed:
        pass
    async with conn.transaction():
        outcome = await run_read(conn, dialect, op())
        commit.sent = True
    return outcome


async def _run_pipelined(conn: Connection, dialect: Dialect, op: Op[T], commit: Commit) -> T:
    final: tuple[Sql, AsyncCursor[TupleRow]] | None = None
    outcome: list[T] = []
    try:
        async with conn.pipeline() as pipeline:
            async with conn.transaction():
                try:
                    statement = next(op)
                    while not (isinstance(statement, Sql) and statement.final):
                        statement = op.send(
                            await _execute(conn, dialect, statement, pipelined=True)
                        )
                    text = sql_text(dialect.render(statement.text))
                    final = statement, await conn.execute(text, statement.params)
                except StopIteration as done:
                    outcome.append(done.value)
                commit.sent = True
            await pipeline.sync()
    except psycopg.errors.DivisionByZero:
        raise FenceFailed from None
    if final is None:
        return outcome[0]
    # The final statement's result came with the commit.
    statement, cursor = final
    row = await cursor.fetchone()
    try:
        op.send(row if row is None or statement.decode is None else statement.decode(row))
    except StopIteration as done:
        return done.value
    raise AssertionError("a final statement must be the last of its operation")


async def _execute(
    conn: Connection, dialect: Dialect, statement: Statement, *, pipelined: bool
) -> Any:
    if isinstance(statement, Notify):
        await _notify(conn, dialect, statement)
        return None
    shape = statement.shape
    params = statement.params
    if shape != "many" and unmatchable(params):
        return {"one": None, "all": [], "count": 0, "fence": False, "run": None}[shape]
    text = dialect.render(statement.text)
    if shape == "many":
        await _insert_rows(conn, text, params)
        return None
    if shape == "fence" and pipelined:
        # Division by zero when nothing changed: the pipeline aborts, `run_write` runs again.
        await conn.execute(
            sql_text(f"WITH fenced AS ({text} RETURNING 1) SELECT 1 / count(*) FROM fenced"),
            params,
        )
        return True
    if shape in ("count", "fence"):
        # Counted by the server: a row count is not known in a pipeline until it syncs.
        cursor = await conn.execute(
            sql_text(f"WITH changed AS ({text} RETURNING 1) SELECT count(*) FROM changed"), params
        )
        row = await cursor.fetchone()
        changed = 0 if row is None else int(row[0])
        return changed > 0 if shape == "fence" else changed
    cursor = await conn.execute(sql_text(text), params)
    if shape == "run":
        return None
    decode = statement.decode
    if shape == "one":
        row = await cursor.fetchone()
        return row if row is None or decode is None else decode(row)
    found = await cursor.fetchall()
    return found if decode is None else [decode(row) for row in found]


_MAX_PARAMETERS = 65535  # what one statement of the protocol can bind


async def _insert_rows(conn: Connection, text: str, param_rows: Sequence[Sequence[Any]]) -> None:
    """One INSERT of many rows: one statement for the server to plan, not one per row."""
    if not param_rows:
        return
    width = len(param_rows[0])
    one_row = "(" + ", ".join(["%s"] * width) + ")"
    head, tail = text.split(one_row, 1)
    chunk = _MAX_PARAMETERS // width
    for start in range(0, len(param_rows), chunk):
        batch = param_rows[start : start + chunk]
        await conn.execute(
            sql_text(head + ", ".join([one_row] * len(batch)) + tail),
            [value for row in batch for value in row],
        )


async def _notify(conn: Connection, dialect: Dialect, note: Notify) -> None:
    # pg_notify inside the write's transaction: delivered when, and only if, it commits.
    if note.events is not None:
        thread_id, seq = note.events
        await conn.execute(
            sql_text(f"SELECT pg_notify('{EVENTS_CHANNEL}', %s)"), (f"{thread_id}:{seq}",)
        )
    for thread_id in dict.fromkeys(note.work):
        await conn.execute(sql_text(f"SELECT pg_notify('{WORK_CHANNEL}', %s)"), (thread_id,))
    if note.work_if_queued is not None:
        inbox = dialect.render("{inbox}")
        await conn.execute(
            sql_text(
                f"SELECT pg_notify('{WORK_CHANNEL}', %s) WHERE EXISTS (SELECT 1 FROM {inbox} "
                "WHERE thread_id = %s AND kind != 'steer')"
            ),
            (note.work_if_queued, note.work_if_queued),
        )
