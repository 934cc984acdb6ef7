"""Statement plumbing shared by the PostgreSQL store's modules.

Every table is named with its schema in every statement, so no statement depends on the
connection's `search_path`: nothing is set per session, which keeps the store correct behind a
transaction-mode pooler that hands each transaction a different server connection.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, cast

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from threadline.types import InvalidInputError

Connection = AsyncConnection[TupleRow]
Row = tuple[Any, ...]

# Lease arithmetic uses the database's clock, never the caller's.
NOW = "extract(epoch from clock_timestamp())::float8"

EVENTS_CHANNEL = "threadline_events"
WORK_CHANNEL = "threadline_work"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def identifier(name: str, what: str) -> str:
    if not isinstance(name, str) or _IDENTIFIER.fullmatch(name) is None:
        raise InvalidInputError(
            f"{what} must be 1 to 63 letters, digits or underscores, not starting with a digit"
        )
    return f'"{name}"'


@dataclass(frozen=True, slots=True)
class Tables:
    schema_name: str
    schema: str
    threads: str
    turns: str
    items: str
    events: str
    inbox: str
    timers: str
    files: str
    file_chunks: str
    env: str
    observations: str
    thread_memory: str
    steps: str
    spans: str
    schema_version: str

    @classmethod
    def in_schema(cls, schema_name: str) -> Tables:
        s = identifier(schema_name, "schema")
        return cls(
            schema_name=schema_name,
            schema=s,
            threads=f"{s}.threads",
            turns=f"{s}.turns",
            items=f"{s}.items",
            events=f"{s}.events",
            inbox=f"{s}.inbox",
            timers=f"{s}.timers",
            files=f"{s}.files",
            file_chunks=f"{s}.file_chunks",
            env=f"{s}.env",
            observations=f"{s}.observations",
            thread_memory=f"{s}.thread_memory",
            steps=f"{s}.steps",
            spans=f"{s}.spans",
            schema_version=f"{s}.schema_version",
        )


def sql_text(query: str) -> LiteralString:
    # Statements are built from constants and validated, quoted identifiers only; values always
    # travel as parameters.
    return cast(LiteralString, query)


def unmatchable(params: Sequence[Any]) -> bool:
    # No stored text contains NUL (`codec.check_text` refuses it on every store), so a lookup by
    # such a value matches nothing, as it does on SQLite; PostgreSQL would refuse the parameter.
    return any(isinstance(p, str) and "\x00" in p for p in params)


async def fetchone(conn: Connection, query: str, params: Sequence[Any] = ()) -> Row | None:
    if unmatchable(params):
        return None
    cur = await conn.execute(sql_text(query), params)
    return await cur.fetchone()


async def fetchall(conn: Connection, query: str, params: Sequence[Any] = ()) -> list[Row]:
    if unmatchable(params):
        return []
    cur = await conn.execute(sql_text(query), params)
    return await cur.fetchall()


async def execute(conn: Connection, query: str, params: Sequence[Any] = ()) -> int:
    if unmatchable(params):
        return 0
    cur = await conn.execute(sql_text(query), params)
    return cur.rowcount
