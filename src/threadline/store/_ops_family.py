"""Child threads: a parent's children, each named by a reference id unique within it."""

from __future__ import annotations

from dataclasses import dataclass

from threadline.types import InboxEntry, ThreadRecord


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
