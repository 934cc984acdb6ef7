"""How the SQLite store reads rows. Every SELECT of the store goes through `select`,
`select_one` or `rows`, and every driver error through `store_error`, so that what the database
holds reaches callers one way: as records, or as a `StoreError` that names the table and row and
never quotes the content (SQLite's own message for text that is not UTF-8 does)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from threadline.types import CorruptDataError, StoreError

from ._codec import Decoder, Row

_NOT_UTF8 = re.compile(r"^Could not decode to UTF-8 column '([^']*)'")
_TABLE = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def select(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], decode: Decoder[Any] | None
) -> list[Any]:
    """The rows, each read by `decode` if given (ids, states and counters need none)."""
    try:
        found = conn.execute(sql, params).fetchall()
    except sqlite3.Error as exc:
        raise _read_error(conn, exc, sql, params, decode) from None
    return found if decode is None else [decode(row) for row in found]


def select_one(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], decode: Decoder[Any] | None
) -> Any:
    try:
        row = conn.execute(sql, params).fetchone()
    except sqlite3.Error as exc:
        raise _read_error(conn, exc, sql, params, decode) from None
    return row if row is None or decode is None else decode(row)


def store_error(
    exc: sqlite3.Error, *, action: str = "the request", table: str | None = None
) -> StoreError:
    """The `StoreError` for what SQLite raised, without the content it may quote."""
    undecodable = _NOT_UTF8.match(str(exc))
    if undecodable is not None:
        column = undecodable.group(1)
        return CorruptDataError(
            f"{f'the {table} table' if table else 'a table'} holds text that is not UTF-8 in "
            f"its {column} column. The database was changed outside threadline or is damaged: "
            "restore it from a backup",
            table=table,
            column=column,
        )
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _DAMAGED:
        return CorruptDataError(
            f"the database file is damaged ({exc}): restore it from a backup", table=table
        )
    if isinstance(exc, sqlite3.IntegrityError):
        return StoreError(f"a constraint refused {action}: {exc}")
    return StoreError(f"the database refused {action}: {exc}")


def _read_error(
    conn: sqlite3.Connection,
    exc: sqlite3.Error,
    sql: str,
    params: Sequence[Any],
    decode: Decoder[Any] | None,
) -> StoreError:
    undecodable = _NOT_UTF8.match(str(exc))
    if undecodable is not None and decode is not None:
        row = _undecodable_row(conn, sql, params)
        if row is not None:
            return decode.corrupt(row, f"has text that is not UTF-8 in its {undecodable[1]} column")
    table = _TABLE.search(sql)
    return store_error(exc, table=None if table is None else table[1])


class _Text(bytes):
    """A text value read as bytes (blobs are read as plain `bytes`)."""


def _undecodable_row(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> Row | None:
    """The first row of the query that holds text that is not UTF-8 (read again as bytes, on
    the same connection, so inside the same transaction)."""
    text_factory = conn.text_factory
    conn.text_factory = _Text
    try:
        for row in conn.execute(sql, params):
            if any(isinstance(value, _Text) and not _is_utf8(value) for value in row):
                return row
    except sqlite3.Error:
        return None
    finally:
        conn.text_factory = text_factory
    return None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
