"""A thread taken out of one store and put into another: every row stored for it, written
once for every SQL store (see `_sql`).

A snapshot holds the rows as the schema keeps them, column by column, without the store's own
number for the thread (`tkey`), which the importing store assigns anew. So nothing is decoded
and encoded again: the event log's blocks, the tool-call states, the turn options, the files'
chunks, the step records, the thread's environment (a secret's value as its ciphertext) and its
memory (its watermark and its own observations; a resource's belong to the resource) come back
exactly as they were. A thread with child threads, or one whose turn runs, is refused: its rows would not
be the whole of it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from threadline.types import (
    InvalidInputError,
    NotFoundError,
    ThreadRecord,
    TurnInProgressError,
)

from . import _codec as codec
from ._ops_memory import OBSERVATION_COLUMNS
from ._ops_spans import SPAN_COLUMNS
from ._ops_steps import STEP_COLUMNS
from ._sql import Op, many, marks, one, rows, run

SNAPSHOT_FORMAT = 1
_BYTES = "$bytes"

# The columns each table keeps for a thread. The tables keyed by the thread's number (`tkey`)
# are read and written with the importing store's number for it.
_THREAD_COLUMNS = tuple(c.strip() for c in codec.THREAD_COLUMNS.split(","))
_BY_TKEY: dict[str, tuple[str, ...]] = {
    "turns": tuple(c.strip() for c in codec.TURN_INSERT.split(",") if c.strip() != "tkey"),
    "items": (
        "seq",
        "event_seq",
        "turn",
        "type",
        "status",
        "tool_state",
        "created_at",
        "item_id",
        "call_id",
        "events",
        "content",
    ),
    "events": ("seq", "turn", "events"),
    "files": ("path", "file_id", "size", "created_at", "updated_at"),
    "file_chunks": ("file_id", "number", "data"),
    "steps": ("turn", *STEP_COLUMNS),
    "spans": ("turn", *SPAN_COLUMNS),
}
_BY_THREAD_ID: dict[str, tuple[str, ...]] = {
    "inbox": tuple(c.strip() for c in codec.INBOX_COLUMNS.split(",")),
    "timers": tuple(c.strip() for c in codec.TIMER_COLUMNS.split(",")),
    "thread_memory": ("thread_id", "namespace", "observed_through"),
}
# The rows of these tables that the thread owns: its own environment and its own observations.
_BY_OWNER: dict[str, tuple[str, ...]] = {
    "env": ("scope", "owner", "name", "type", "value", "updated_at"),
    "observations": tuple(c.strip() for c in OBSERVATION_COLUMNS.split(",")),
}
_ORDER = {
    "turns": "number",
    "items": "seq",
    "events": "seq",
    "files": "path",
    "steps": "turn, number",
    "spans": "turn, span_id",
    "observations": "observed_at, observation_id",
}
# A snapshot's thread is nobody's until a process takes its turn again.
_RELEASED = {"lease_owner": None, "lease_expires_at": None, "wake_at": None}


@dataclass(frozen=True, kw_only=True)
class ThreadSnapshot:
    """Every row a store keeps for one thread, by table, each a mapping of column to value:
    what `Store.export_thread` returns and `Store.import_thread` takes. `to_dict()` makes it
    JSON-ready (bytes as base64); `from_dict` reads that back."""

    thread_id: str
    tables: Mapping[str, list[dict[str, Any]]] = field(
        default_factory=dict[str, list[dict[str, Any]]]
    )
    format: int = SNAPSHOT_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "thread_id": self.thread_id,
            "tables": {
                table: [{k: _to_json(v) for k, v in row.items()} for row in found]
                for table, found in self.tables.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThreadSnapshot:
        """Raises `InvalidInputError` for data that is not a snapshot of this format."""
        try:
            found = data["format"]
            if found != SNAPSHOT_FORMAT:
                raise InvalidInputError(
                    f"the thread snapshot has format {found!r}; this threadline reads format "
                    f"{SNAPSHOT_FORMAT}",
                    field="format",
                )
            tables: dict[str, list[dict[str, Any]]] = {
                str(table): [{str(k): _from_json(v) for k, v in row.items()} for row in rows]
                for table, rows in data["tables"].items()
            }
            return cls(thread_id=str(data["thread_id"]), tables=tables)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InvalidInputError(
                f"not a thread snapshot ({type(exc).__name__})", field="snapshot"
            ) from None


def export_thread(thread_id: str) -> Op[ThreadSnapshot]:
    found = yield one(
        f"SELECT tkey, {', '.join(_THREAD_COLUMNS)} FROM {{threads}} WHERE thread_id = ?",
        thread_id,
    )
    if found is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    tkey, thread = found[0], dict(zip(_THREAD_COLUMNS, found[1:], strict=True))
    if thread["lease_owner"] is not None:
        raise TurnInProgressError(
            f"thread {thread_id} has a running turn: export it once the turn ends or pauses",
            thread_id=thread_id,
        )
    children = yield one("SELECT thread_id FROM {threads} WHERE parent_id = ? LIMIT 1", thread_id)
    if thread["parent_id"] is not None or children is not None:
        raise InvalidInputError(
            f"thread {thread_id} belongs to a tree of threads (subagents): a snapshot holds "
            "one thread alone",
            thread_id=thread_id,
        )
    tables: dict[str, list[dict[str, Any]]] = {"threads": [{**thread, **_RELEASED}]}
    for table, columns in _BY_TKEY.items():
        order = f" ORDER BY {_ORDER[table]}" if table in _ORDER else ""
        found_rows = yield rows(
            f"SELECT {', '.join(columns)} FROM {{{table}}} WHERE tkey = ?{order}", tkey
        )
        tables[table] = [_row(columns, r) for r in found_rows]
    for table, columns in _BY_THREAD_ID.items():
        found_rows = yield rows(
            f"SELECT {', '.join(columns)} FROM {{{table}}} WHERE thread_id = ?", thread_id
        )
        tables[table] = [_row(columns, r) for r in found_rows]
    for table, columns in _BY_OWNER.items():
        order = f" ORDER BY {_ORDER[table]}" if table in _ORDER else ""
        found_rows = yield rows(
            f"SELECT {', '.join(columns)} FROM {{{table}}} "
            f"WHERE scope = 'thread' AND owner = ?{order}",
            thread_id,
        )
        tables[table] = [_row(columns, r) for r in found_rows]
    return ThreadSnapshot(thread_id=thread_id, tables=tables)


def import_thread(snapshot: ThreadSnapshot) -> Op[ThreadRecord]:
    """Store `snapshot`'s thread with every row it holds, in one transaction. Raises
    `InvalidInputError` if the store holds that thread (or one of its turns, items or files)
    already, or if the snapshot is not whole."""
    thread_id = snapshot.thread_id
    threads = _rows_of(snapshot, "threads", _THREAD_COLUMNS)
    if len(threads) != 1 or threads[0][0] != thread_id:
        raise InvalidInputError("the snapshot must hold its one thread", field="threads")
    thread = dict(zip(_THREAD_COLUMNS, threads[0], strict=True))
    if thread["parent_id"] is not None:
        raise InvalidInputError("a snapshot holds one thread alone", field="threads")
    if (yield one("SELECT 1 FROM {threads} WHERE thread_id = ?", thread_id)) is not None:
        raise InvalidInputError(
            f"the store holds thread {thread_id!r} already: import a snapshot into a store "
            "without it (delete the stored thread first)",
            thread_id=thread_id,
        )
    by_tkey = {table: _rows_of(snapshot, table, columns) for table, columns in _BY_TKEY.items()}
    for table, column in (("turns", "turn_id"), ("items", "item_id"), ("files", "file_id")):
        keys = [r[_BY_TKEY[table].index(column)] for r in by_tkey[table]]
        if keys and (
            yield one(f"SELECT 1 FROM {{{table}}} WHERE {column} IN ({marks(len(keys))})", *keys)
        ):
            raise InvalidInputError(
                f"the store holds {table} of this snapshot under another thread already",
                thread_id=thread_id,
            )
    released = tuple({**thread, **_RELEASED}[c] for c in _THREAD_COLUMNS)
    yield run(
        f"INSERT INTO {{threads}} ({codec.THREAD_COLUMNS}) VALUES ({codec.THREAD_PLACEHOLDERS})",
        *released,
    )
    (tkey,) = yield one("SELECT tkey FROM {threads} WHERE thread_id = ?", thread_id)
    for table, found in by_tkey.items():
        if found:
            columns = _BY_TKEY[table]
            yield many(
                f"INSERT INTO {{{table}}} (tkey, {', '.join(columns)}) "
                f"VALUES (?, {marks(len(columns))})",
                [(tkey, *r) for r in found],
            )
    for table, columns in (*_BY_THREAD_ID.items(), *_BY_OWNER.items()):
        found = _rows_of(snapshot, table, columns)
        owned = table in _BY_OWNER
        owner = columns.index("owner" if owned else "thread_id")
        if any(r[owner] != thread_id for r in found):
            raise InvalidInputError(f"the snapshot's {table} belong to another thread")
        if owned and any(r[columns.index("scope")] != "thread" for r in found):
            raise InvalidInputError(f"the snapshot's {table} are the thread's own only")
        if found:
            yield many(
                f"INSERT INTO {{{table}}} ({', '.join(columns)}) VALUES ({marks(len(columns))})",
                found,
            )
    record = yield one(
        f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE thread_id = ?",
        thread_id,
        decode=codec.thread_from_row,
    )
    return record


def _row(columns: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    return {
        c: bytes(v) if isinstance(v, memoryview) else v
        for c, v in zip(columns, values, strict=True)
    }


def _rows_of(
    snapshot: ThreadSnapshot, table: str, columns: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """The table's rows as values in `columns`' order. Raises `InvalidInputError` for a row
    without one of them or with others."""
    found = snapshot.tables.get(table, [])
    wanted = set(columns)
    values: list[tuple[Any, ...]] = []
    for row in found:
        if set(row) != wanted:
            raise InvalidInputError(
                f"a {table} row of the snapshot does not have the columns {', '.join(columns)}",
                field=table,
            )
        values.append(tuple(row[c] for c in columns))
    return values


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {_BYTES: base64.b64encode(bytes(value)).decode()}
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return base64.b64decode(str(value[_BYTES]), validate=True)  # pyright: ignore
    return value
