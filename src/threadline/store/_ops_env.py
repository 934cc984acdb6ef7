"""The environment's stored values, written once for every SQL store (see `_sql`).

A row per scope (`thread`, `user`, `resource`, `instance`), owner (the thread, user or
resource id; "" for the instance) and name. A secret's value is its ciphertext: the store
never sees one in clear. A thread's rows are deleted with it (`_ops_threads.delete_thread`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import EnvEntry, EnvScope, NotFoundError, check_env_type

from ._codec import Decoder
from ._ops_threads import DESCENDANTS
from ._sql import Op, count, many, marks, rows

ENV_COLUMNS = "scope, owner, name, type, value, updated_at"

_UPSERT = (
    f"INSERT INTO {{env}} ({ENV_COLUMNS}) VALUES ({marks(6)}) ON CONFLICT (scope, owner, name) "
    "DO UPDATE SET type = excluded.type, value = excluded.value, updated_at = excluded.updated_at"
)


def _env_entry(row: Sequence[Any]) -> EnvEntry:
    scope, owner, name, env_type, value, updated_at = row
    if scope not in _SCOPES or not isinstance(value, str):
        raise ValueError("not an environment row")
    return EnvEntry(
        scope=scope,
        owner=str(owner),
        name=str(name),
        type=check_env_type(env_type),
        value=value,
        updated_at=float(updated_at),
    )


_SCOPES = ("thread", "user", "resource", "instance")
# A row is named by its scope, owner and name, never by its value.
env_from_row = Decoder("env", lambda r: f"{r[0]}:{r[1]}:{r[2]}", _env_entry)


def _thread_and_descendants(thread_id: str, descendants: bool) -> Op[list[str]]:
    """The thread and, with `descendants`, those of its descendants that are not archived,
    their rows locked (in one order, as other writes of several threads take them) so that a
    thread deleted meanwhile keeps no values. Raises `NotFoundError` if the thread is gone."""
    found: list[Any] = (yield rows(DESCENDANTS, thread_id)) if descendants else []
    others = {row[0] for row in found} - {thread_id}
    ids = sorted({thread_id, *others})
    locked = yield rows(
        f"SELECT thread_id, status FROM {{threads}} WHERE thread_id IN ({marks(len(ids))}) "
        "ORDER BY thread_id {lock}",
        *ids,
    )
    statuses = dict(locked)
    if thread_id not in statuses:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return [
        thread_id,
        *(i for i in ids if i in others and statuses.get(i) not in (None, "archived")),
    ]


def set_env(entry: EnvEntry, propagate: bool) -> Op[list[str]]:
    """Store `entry`, replacing the value of its scope, owner and name. A thread's entry
    with `propagate` is stored for each of the thread's descendants that is not archived
    too. Returns the threads written (none for the other scopes)."""
    owners = [entry.owner]
    if entry.scope == "thread":
        owners = yield from _thread_and_descendants(entry.owner, propagate)
    yield many(
        _UPSERT,
        [
            (entry.scope, owner, entry.name, entry.type, entry.value, entry.updated_at)
            for owner in owners
        ],
    )
    return owners if entry.scope == "thread" else []


def delete_env(scope: EnvScope, owner: str, name: str, propagate: bool) -> Op[list[str]]:
    """Remove the value of `name` for that scope and owner (and, for a thread with
    `propagate`, for its descendants that are not archived). Returns the owners that had
    one."""
    owners = [owner]
    if scope == "thread":
        owners = yield from _thread_and_descendants(owner, propagate)
    removed: list[str] = []
    for each in owners:
        if (
            yield count(
                "DELETE FROM {env} WHERE scope = ? AND owner = ? AND name = ?", scope, each, name
            )
        ):
            removed.append(each)
    return removed


def get_env(name: str, owners: Sequence[tuple[EnvScope, str]]) -> Op[list[EnvEntry]]:
    """The stored values of `name` for each (scope, owner) of `owners`, in no order."""
    if not owners:
        return []
    condition = " OR ".join(["(scope = ? AND owner = ?)"] * len(owners))
    params = [value for pair in owners for value in pair]
    found: list[EnvEntry] = yield rows(
        f"SELECT {ENV_COLUMNS} FROM {{env}} WHERE name = ? AND ({condition})",
        name,
        *params,
        decode=env_from_row,
    )
    return found
