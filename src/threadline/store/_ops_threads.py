"""The writes of threads, and the thread row every other write starts from (see `_sql`)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any, cast

from threadline.types import (
    InvalidInputError,
    Item,
    NotFoundError,
    StoreError,
    ThreadRecord,
    ThreadTerminatedError,
)

from . import _codec as codec
from ._sql import Op, count, marks, one, rows, run
from ._writes import Work, WorkKind


class CursorMovedError(StoreError):
    """The thread changed between the caller's read and its write; read again and retry."""

    code = "cursor_moved"


ARCHIVED = "the thread is archived: unarchive it or start a new thread"
TERMINATED = "the thread was terminated: it takes no more input; start a new thread"
# Every thread whose chain of parents leads to the given one (UNION stops at a cycle).
DESCENDANTS = (
    "WITH RECURSIVE tree(thread_id) AS (SELECT thread_id FROM {threads} WHERE parent_id = ? "
    "UNION SELECT t.thread_id FROM {threads} AS t JOIN tree ON t.parent_id = tree.thread_id) "
    "SELECT thread_id FROM tree"
)


def status_unless_terminated(status: str) -> str:
    """The SQL value that sets a thread's status to `status`, unless the thread was terminated:
    it stays so while its last turn is ended, and after."""
    return f"CASE WHEN status = 'terminated' THEN status ELSE '{status}' END"


def thread_row(thread_id: str, *, lock: bool = False) -> Op[tuple[Any, ...]]:
    """active_turn_id, last_item_seq, last_event_seq, turn_count, status, lease_epoch, tkey
    (the thread's number, which the rows of its turns, items and events are keyed by).

    With `lock`, concurrent writes of the thread wait for this one to commit, so each decides
    from what the previous committed."""
    row = yield one(
        "SELECT active_turn_id, last_item_seq, last_event_seq, turn_count, status, lease_epoch, "
        f"tkey FROM {{threads}} WHERE thread_id = ?{' {lock}' if lock else ''}",
        thread_id,
    )
    if row is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return row


def create_thread(thread: ThreadRecord) -> Op[ThreadRecord]:
    codec.check_thread(thread)
    while True:
        if thread.key is not None:
            existing = yield one(
                f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE key = ? AND user_id {{same}} ?",
                thread.key,
                thread.user_id,
                decode=codec.thread_from_row,
            )
            if existing is not None:
                return existing
        # Two processes creating the same keyed thread at once both get the one stored first,
        # as they would one after the other.
        if (
            yield count(
                f"INSERT INTO {{threads}} ({codec.THREAD_COLUMNS}) VALUES "
                f"({codec.THREAD_PLACEHOLDERS}) {{owner_key_conflict}}",
                *codec.thread_row(thread),
            )
        ):
            return thread


def update_thread(thread_id: str, changes: dict[str, Any]) -> Op[ThreadRecord]:
    codec.check_text(mode=changes.get("mode"), status=changes.get("status"))
    if changes.get("status") == "terminated":
        raise InvalidInputError("a thread is terminated with terminate(reason), which ends it")
    if "status" in changes:
        row = yield from thread_row(thread_id, lock=True)
        terminated_check(str(row[4]), thread_id)
    if "metadata_patch" in changes:
        changes = dict(changes)
        patch = changes.pop("metadata_patch")
        if "metadata" in changes:
            raise InvalidInputError("give metadata or metadata_patch, not both")
        if not isinstance(patch, dict):
            raise InvalidInputError("metadata_patch must be a JSON object")
        stored = yield one("SELECT metadata FROM {threads} WHERE thread_id = ? {lock}", thread_id)
        if stored is None:
            raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
        changes["metadata"] = merge_patch(codec.loads(stored[0]), patch)
    assignments = ["updated_at = ?"]
    values: list[Any] = [time.time()]
    for name, value in changes.items():
        assignments.append(f"{name} = ?")
        values.append(
            codec.dumps(value) if name in ("state", "metadata") and value is not None else value
        )
    if not (
        yield count(
            f"UPDATE {{threads}} SET {', '.join(assignments)} WHERE thread_id = ?",
            *values,
            thread_id,
        )
    ):
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    updated = yield one(
        f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE thread_id = ?",
        thread_id,
        decode=codec.thread_from_row,
    )
    return updated


def merge_patch(target: Any, patch: Any) -> Any:
    """`target` changed by a JSON merge patch (RFC 7396)."""
    if not isinstance(patch, dict):
        return patch
    merged: dict[str, Any] = dict(cast(dict[str, Any], target)) if isinstance(target, dict) else {}
    for key, value in cast(dict[str, Any], patch).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def delete_thread(thread_id: str) -> Op[bool]:
    """The thread, its descendants and everything stored for them. False if it is gone."""
    # Thread rows first, as the other writes of a thread take them first (no lock-order
    # deadlock with a turn that is starting), in one order, as writes of several threads take
    # them. The tree is read again once they are held: a child spawned meanwhile (a spawn
    # holds its parent's row) is taken too.
    held: dict[str, Any] = {}
    while True:
        tree = yield rows(DESCENDANTS, thread_id)
        wanted = sorted({thread_id, *(row[0] for row in tree)} - held.keys())
        if not wanted:
            break
        found = yield rows(
            f"SELECT thread_id, tkey FROM {{threads}} WHERE thread_id IN ({marks(len(wanted))}) "
            "ORDER BY thread_id {lock}",
            *wanted,
        )
        held.update(found)
        if thread_id not in held:
            return False
    ids, tkeys = list(held), list(held.values())
    for table in ("items", "events", "turns", "steps", "spans", "files", "file_chunks"):
        yield run(f"DELETE FROM {{{table}}} WHERE tkey IN ({marks(len(tkeys))})", *tkeys)
    for table in ("inbox", "timers"):
        yield run(f"DELETE FROM {{{table}}} WHERE thread_id IN ({marks(len(ids))})", *ids)
    yield run(f"DELETE FROM {{env}} WHERE scope = 'thread' AND owner IN ({marks(len(ids))})", *ids)
    yield run(
        f"DELETE FROM {{observations}} WHERE scope = 'thread' AND owner IN ({marks(len(ids))})",
        *ids,
    )
    yield run(f"DELETE FROM {{thread_memory}} WHERE thread_id IN ({marks(len(ids))})", *ids)
    yield run(f"DELETE FROM {{threads}} WHERE thread_id IN ({marks(len(ids))})", *ids)
    return True


def archived_check(status: str, thread_id: str) -> None:
    """Refuse input to a thread that is archived or terminated."""
    terminated_check(status, thread_id)
    if status == "archived":
        raise InvalidInputError(ARCHIVED, thread_id=thread_id)


def terminated_check(status: str, thread_id: str) -> None:
    if status == "terminated":
        raise ThreadTerminatedError(TERMINATED, thread_id=thread_id)


def find_work(limit: int, kinds: Collection[WorkKind]) -> Op[list[Work]]:
    work: list[Work] = []
    if "expired" in kinds:
        expired = yield rows(
            "SELECT thread_id, active_turn_id FROM {threads} WHERE lease_owner IS NOT NULL "
            "AND lease_expires_at <= {now} ORDER BY lease_expires_at LIMIT ?",
            limit,
        )
        work += [Work(kind="expired", thread_id=r[0], turn_id=r[1]) for r in expired]
    if "wake" in kinds:
        waking = yield rows(
            "SELECT thread_id, active_turn_id FROM {threads} WHERE wake_at IS NOT NULL AND "
            "wake_at <= {now} AND lease_owner IS NULL AND active_turn_id IS NOT NULL "
            "ORDER BY wake_at LIMIT ?",
            limit,
        )
        work += [Work(kind="wake", thread_id=r[0], turn_id=r[1]) for r in waking]
    if "inbox" in kinds:
        queued = yield rows(
            "SELECT inbox.thread_id FROM {inbox} AS inbox JOIN {threads} AS threads ON "
            "threads.thread_id = inbox.thread_id WHERE threads.active_turn_id IS NULL AND "
            "inbox.kind != 'steer' GROUP BY inbox.thread_id ORDER BY MIN(inbox.created_at) "
            "LIMIT ?",
            limit,
        )
        work += [Work(kind="inbox", thread_id=r[0]) for r in queued]
    return work


def load_items(thread_id: str, after_seq: int, limit: int | None) -> Op[list[Item]]:
    """A thread's items after `after_seq`: its rows alone, then the ids of the turns they
    belong to, read once (a turn's items follow its number, so from the first one's on). The
    turns are read second: a turn is stored with its first items, so every turn an item read
    names is there, even if the thread went on in between (reads are not one snapshot)."""
    key = "(SELECT tkey FROM {threads} WHERE thread_id = ?)"
    text = (
        f"SELECT {codec.THREAD_ITEM_COLUMNS} FROM {{items}} WHERE tkey = {key} AND seq > ? "
        "ORDER BY seq"
    )
    params: list[Any] = [thread_id, after_seq]
    if limit is not None:
        text += " LIMIT ?"
        params.append(limit)
    turn_ids: dict[int, bytes] = {}  # filled below, before any item is read
    found: list[Item] = yield rows(text, *params, decode=codec.thread_items(thread_id, turn_ids))
    if found:
        turn_rows = yield rows(
            f"SELECT number, turn_id FROM {{turns}} WHERE tkey = {key} AND number >= COALESCE(("
            f"SELECT turn FROM {{items}} WHERE tkey = {key} AND seq > ? AND turn IS NOT NULL "
            "ORDER BY seq LIMIT 1), 0)",
            thread_id,
            thread_id,
            after_seq,
        )
        turn_ids.update((number, turn_id) for number, turn_id in turn_rows)
    return found
