"""Observational memory, written once for every SQL store (see `_sql`).

`observations` holds a row per observation, keyed by its id and read by (scope, owner,
namespace): the resource (or the thread) it belongs to and the memory namespace the agents
that share it use. `thread_memory` holds, per thread, its namespace and the last item seq its
observations cover. New observations and that watermark are written together, and only over
the watermark the observer read, so a repeated or concurrent observer adds nothing twice.
A thread's rows (and its thread-scoped observations) are deleted with it
(`_ops_threads.delete_thread`); resource-scoped observations belong to the resource and stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import (
    MEMORY_SCOPES,
    InvalidInputError,
    MemoryScope,
    NotFoundError,
    Observation,
    ThreadMemory,
)

from . import _codec as codec
from ._codec import Decoder
from ._sql import Op, count, many, marks, one, rows, run

OBSERVATION_COLUMNS = (
    "observation_id, scope, owner, namespace, text, observed_at, created_at, updated_at, "
    "source_thread_id"
)
_INSERT = f"INSERT INTO {{observations}} ({OBSERVATION_COLUMNS}) VALUES ({marks(9)})"
_WHERE_OWNER = "scope = ? AND owner = ?"


def _observation(row: Sequence[Any]) -> Observation:
    observation_id, scope, owner, namespace, text, observed, created, updated, source = row
    if scope not in MEMORY_SCOPES or not isinstance(text, str):
        raise ValueError("not an observation row")
    return Observation(
        observation_id=str(observation_id),
        scope=scope,
        owner=str(owner),
        namespace=str(namespace),
        text=text,
        observed_at=float(observed),
        created_at=float(created),
        updated_at=float(updated),
        source_thread_id=None if source is None else str(source),
    )


observation_from_row = Decoder("observations", lambda r: r[0], _observation)


def _row(observation: Observation) -> tuple[Any, ...]:
    o = observation
    codec.check_text(text=o.text, owner=o.owner, namespace=o.namespace)
    return (
        o.observation_id,
        o.scope,
        o.owner,
        o.namespace,
        o.text,
        o.observed_at,
        o.created_at,
        o.updated_at,
        o.source_thread_id,
    )


def _owned(scope: MemoryScope, owner: str, namespace: str | None) -> tuple[str, list[Any]]:
    """The condition naming one owner's observations (of one namespace, or of all)."""
    if namespace is None:
        return _WHERE_OWNER, [scope, owner]
    return f"{_WHERE_OWNER} AND namespace = ?", [scope, owner, namespace]


def list_observations(
    scope: MemoryScope, owner: str, namespace: str | None
) -> Op[list[Observation]]:
    """The owner's observations, oldest observed first."""
    where, params = _owned(scope, owner, namespace)
    found: list[Observation] = yield rows(
        f"SELECT {OBSERVATION_COLUMNS} FROM {{observations}} WHERE {where} "
        "ORDER BY observed_at, created_at, observation_id",
        *params,
        decode=observation_from_row,
    )
    return found


def get_observation(
    observation_id: str, scope: MemoryScope, owner: str, namespace: str | None
) -> Op[Observation | None]:
    where, params = _owned(scope, owner, namespace)
    found: Observation | None = yield one(
        f"SELECT {OBSERVATION_COLUMNS} FROM {{observations}} WHERE observation_id = ? AND {where}",
        observation_id,
        *params,
        decode=observation_from_row,
    )
    return found


def update_observation(
    observation_id: str, scope: MemoryScope, owner: str, namespace: str | None, text: str, at: float
) -> Op[Observation | None]:
    """Replace an observation's text; None if the owner has no such observation."""
    codec.check_text(text=text)
    where, params = _owned(scope, owner, namespace)
    changed = yield count(
        f"UPDATE {{observations}} SET text = ?, updated_at = ? WHERE observation_id = ? AND {where}",
        text,
        at,
        observation_id,
        *params,
    )
    if not changed:
        return None
    return (yield from get_observation(observation_id, scope, owner, namespace))


def delete_observations(
    scope: MemoryScope, owner: str, namespace: str | None, observation_id: str | None
) -> Op[int]:
    """Remove one observation of the owner (or, without an id, all of them); how many went."""
    where, params = _owned(scope, owner, namespace)
    if observation_id is not None:
        where, params = f"observation_id = ? AND {where}", [observation_id, *params]
    removed: int = yield count(f"DELETE FROM {{observations}} WHERE {where}", *params)
    return removed


def thread_memory(thread_id: str) -> Op[ThreadMemory | None]:
    row = yield one(
        "SELECT namespace, observed_through FROM {thread_memory} WHERE thread_id = ?", thread_id
    )
    if row is None:
        return None
    return ThreadMemory(thread_id=thread_id, namespace=str(row[0]), observed_through=int(row[1]))


def bind_memory(thread_id: str, namespace: str) -> Op[ThreadMemory]:
    """The thread's memory, in `namespace`: set on first use, refused if it names another
    (the thread's observations and watermark belong to the namespace it began with)."""
    codec.check_text(namespace=namespace)
    known = yield from _locked_memory(thread_id)
    if known is None:
        yield run(
            "INSERT INTO {thread_memory} (thread_id, namespace, observed_through) VALUES (?, ?, 0)",
            thread_id,
            namespace,
        )
        return ThreadMemory(thread_id=thread_id, namespace=namespace)
    if known.namespace != namespace:
        raise InvalidInputError(
            f"thread {thread_id!r} keeps its memory under memory_agent_id {known.namespace!r}; "
            "a thread's memory namespace cannot change",
            thread_id=thread_id,
        )
    return known


def record_observations(
    thread_id: str, namespace: str, after: int, through: int, observations: Sequence[Observation]
) -> Op[bool]:
    """Store `observations` of the thread's items `after` < seq <= `through` and move its
    watermark to `through`, if the watermark is still `after`. False, with nothing written,
    if it moved (the same observations are stored already). Raises `NotFoundError` if the
    thread is gone."""
    rows_ = [_row(o) for o in observations]  # refused before anything is written
    known = yield from _locked_memory(thread_id)
    current = 0 if known is None else known.observed_through
    if current != after or through <= after:
        return False
    if known is None:
        yield run(
            "INSERT INTO {thread_memory} (thread_id, namespace, observed_through) VALUES (?, ?, ?)",
            thread_id,
            namespace,
            through,
        )
    elif known.namespace != namespace:
        return False
    else:
        yield run(
            "UPDATE {thread_memory} SET observed_through = ? WHERE thread_id = ?",
            through,
            thread_id,
        )
    if rows_:
        yield many(_INSERT, rows_)
    return True


def replace_observations(
    scope: MemoryScope,
    owner: str,
    namespace: str,
    replaced: Sequence[str],
    observations: Sequence[Observation],
) -> Op[bool]:
    """Put `observations` in the place of the owner's `replaced` ones, all or nothing: False,
    with nothing written, if any of those was deleted or edited meanwhile."""
    rows_ = [_row(o) for o in observations]
    ids = sorted(set(replaced))
    if not ids:
        return False
    where, params = _owned(scope, owner, namespace)
    found = yield rows(
        f"SELECT observation_id FROM {{observations}} "
        f"WHERE observation_id IN ({marks(len(ids))}) AND {where} ORDER BY observation_id {{lock}}",
        *ids,
        *params,
    )
    if len(found) != len(ids):
        return False
    yield run(f"DELETE FROM {{observations}} WHERE observation_id IN ({marks(len(ids))})", *ids)
    if rows_:
        yield many(_INSERT, rows_)
    return True


def _locked_memory(thread_id: str) -> Op[ThreadMemory | None]:
    """The thread's memory row, locked with the thread's row so that a thread deleted
    meanwhile keeps nothing. Raises `NotFoundError` if the thread is gone."""
    thread = yield one("SELECT thread_id FROM {threads} WHERE thread_id = ? {lock}", thread_id)
    if thread is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return (yield from thread_memory(thread_id))
