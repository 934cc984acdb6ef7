"""Child threads: a parent's children, each named by a reference id unique within it (see
`_sql`). Deleting a thread takes its descendants (`_ops_threads.delete_thread`)."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.types import InboxEntry, InvalidInputError, ThreadRecord

from . import _codec as codec
from ._ops_env import ENV_COLUMNS
from ._ops_inbox import enqueue
from ._ops_threads import archived_check, thread_row
from ._sql import Op, count, one, rows, run


@dataclass(frozen=True, kw_only=True)
class Spawn:
    """Create `thread` (whose `parent_id` and `reference_id` are set) with `entry` queued as
    its first input, in one transaction, and give it a copy of every thread-scoped
    environment value of its parent (secrets as their ciphertext), so that a child sees
    what its parent saw when it started.

    If the parent already has a child with that `reference_id`, nothing is written and that
    child is returned (`created=False`): a spawn repeated after a crash finds the first one.
    A parent that does not exist is `NotFoundError`; a terminated one `ThreadTerminatedError`;
    an archived one `InvalidInputError`.
    """

    thread: ThreadRecord
    entry: InboxEntry


@dataclass(frozen=True, kw_only=True)
class Spawned:
    thread: ThreadRecord
    created: bool  # False: the parent had a child of that reference id already


def spawn_thread(request: Spawn) -> Op[Spawned]:
    thread, entry = request.thread, request.entry
    parent_id, reference_id = thread.parent_id, thread.reference_id
    if parent_id is None or reference_id is None:
        raise InvalidInputError("a spawned thread needs its parent_id and its reference_id")
    if entry.thread_id != thread.thread_id:
        raise InvalidInputError("a spawned thread's first input must be queued for it")
    codec.check_thread(thread)
    # The parent's row first, as every write of a thread takes it: spawns under one parent
    # take turns, and each finds the child that the one before it stored.
    status = (yield from thread_row(parent_id, lock=True))[4]
    archived_check(str(status), parent_id)
    existing = yield from get_child(parent_id, reference_id)
    if existing is None:
        # A child of that reference id stored meanwhile (the unique index) or a thread of
        # that id or owner's key: nothing is inserted, and the child is read below.
        if (
            yield count(
                f"INSERT INTO {{threads}} ({codec.THREAD_COLUMNS}) VALUES "
                f"({codec.THREAD_PLACEHOLDERS}) ON CONFLICT DO NOTHING",
                *codec.thread_row(thread),
            )
        ):
            yield from enqueue(entry)
            yield run(
                f"INSERT INTO {{env}} ({ENV_COLUMNS}) SELECT scope, ?, name, type, value, "
                "updated_at FROM {env} WHERE scope = 'thread' AND owner = ?",
                thread.thread_id,
                parent_id,
            )
            return Spawned(thread=thread, created=True)
        existing = yield from get_child(parent_id, reference_id)
        if existing is None:
            raise InvalidInputError(
                "a thread of that thread_id (or of that owner and key) exists already: give the "
                "child a new thread_id",
                thread_id=thread.thread_id,
            )
    return Spawned(thread=existing, created=False)


def list_children(parent_id: str) -> Op[list[ThreadRecord]]:
    found: list[ThreadRecord] = yield rows(
        f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE parent_id = ? "
        "ORDER BY created_at, thread_id",
        parent_id,
        decode=codec.thread_from_row,
    )
    return found


def get_child(parent_id: str, reference_id: str) -> Op[ThreadRecord | None]:
    found: ThreadRecord | None = yield one(
        f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE parent_id = ? AND reference_id = ?",
        parent_id,
        reference_id,
        decode=codec.thread_from_row,
    )
    return found
