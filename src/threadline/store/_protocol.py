from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol, runtime_checkable

from threadline.types import (
    EnvEntry,
    EnvScope,
    Event,
    FileInfo,
    InboxEntry,
    Item,
    MemoryScope,
    Observation,
    SpanRecord,
    StepRecord,
    ThreadMemory,
    ThreadRecord,
    ThreadStatus,
    TimerRecord,
    TurnRecord,
)

from ._ops_family import Spawn, Spawned
from ._ops_lifecycle import Terminate, Terminated
from ._ops_snapshot import ThreadSnapshot
from ._writes import (
    WORK_KINDS,
    AppendItems,
    BeginOutcome,
    BeginTurn,
    FileOp,
    ItemQuery,
    Lease,
    Renewal,
    ThreadPage,
    ThreadUpdate,
    ToolCallState,
    TurnWrite,
    Work,
    WorkKind,
    Written,
)


@runtime_checkable
class Store(Protocol):
    """Persistence for threads, turns, items, events and the inbox.

    Every write is one transaction. Reads see every write whose call has returned.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        """Store a new thread; if its owner (`user_id`, None included) already has a thread
        with the same `key`, that thread is returned instead."""
        ...

    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...

    async def list_threads(
        self,
        *,
        user_id: str | None = None,
        status: ThreadStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> ThreadPage:
        """Threads newest first. `cursor` is the `next_cursor` of the previous page."""
        ...

    async def find_open_thread(self, *, user_id: str, agent: str) -> ThreadRecord | None:
        """The user's most recent thread of that agent that is not archived, terminated or
        a child thread."""
        ...

    async def update_thread(self, thread_id: str, update: ThreadUpdate) -> ThreadRecord: ...

    async def delete_thread(self, thread_id: str) -> bool:
        """Delete the thread, its descendants (by `parent_id`, however deep) and everything
        stored for them, in one transaction. False if there was no such thread."""
        ...

    # -- child threads (`_ops_family`) -------------------------------------------------------

    async def spawn_thread(self, request: Spawn) -> Spawned:
        """Create a child thread with its first input queued (see `Spawn`), or return the
        parent's child of the same `reference_id` unchanged."""
        ...

    async def list_children(self, parent_id: str) -> list[ThreadRecord]:
        """The threads whose `parent_id` is `parent_id`, oldest first."""
        ...

    async def get_child(self, parent_id: str, reference_id: str) -> ThreadRecord | None:
        """The parent's child of that reference id, if any."""
        ...

    async def terminate_thread(self, request: Terminate) -> Terminated:
        """End the thread for good (see `Terminate`). Raises `CursorMovedError` if it must
        store the reason's item and the thread changed since it was read."""
        ...

    # -- a thread moved between stores (`_ops_snapshot`) -------------------------------------

    async def export_thread(self, thread_id: str) -> ThreadSnapshot:
        """Every row stored for the thread, to `import_thread` into a store (this one after a
        delete, or another). Raises `NotFoundError`, `TurnInProgressError` while a turn runs,
        `InvalidInputError` for a thread with a parent or children."""
        ...

    async def import_thread(self, snapshot: ThreadSnapshot) -> ThreadRecord:
        """Store an exported thread as it was, in one transaction. Raises
        `InvalidInputError` (storing nothing) if the store holds the thread, or one of its
        turns, items or files, already."""
        ...

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome: ...

    async def append_items(self, request: AppendItems) -> None:
        """Raises `TurnInProgressError` while a turn is unfinished, `CursorMovedError` if the
        thread changed since it was read."""
        ...

    async def write_turn(self, write: TurnWrite) -> Written:
        """Raises `LeaseLost` unless `write.epoch` is the thread's current, unexpired lease.
        Returns whether input is waiting for the thread, as of this write."""
        ...

    async def acquire_lease(
        self, thread_id: str, turn_id: str, *, owner: str, lease_seconds: float
    ) -> Lease | None:
        """Take the lease on the thread's active turn if nobody holds it (or it expired)."""
        ...

    async def renew_leases(self, owner: str, lease_seconds: float) -> Renewal:
        """Extend every unexpired lease of `owner`; say which it still holds."""
        ...

    async def hand_back(self, thread_id: str, epoch: int) -> bool:
        """Release a lease so that recovery continues its turn at once."""
        ...

    async def request_cancel(self, turn_id: str) -> bool: ...

    async def wake(self, thread_id: str) -> None:
        """Ask recovery to look at the thread's paused turn now."""
        ...

    async def find_work(
        self, limit: int = 100, *, kinds: Collection[WorkKind] = WORK_KINDS
    ) -> list[Work]:
        """Expired leases, paused turns due to wake, idle threads with queued input (those of
        `kinds`)."""
        ...

    async def claim_turns(
        self, owner: str, *, lease_seconds: float, limit: int = 100, skip: Sequence[str] = ()
    ) -> list[Lease]:
        """Take the lease on up to `limit` turns that wait for one (their owner's lease
        expired, or they are paused and due to wake), except those of the threads in `skip`.
        Processes claiming at once get different turns."""
        ...

    async def load_tool_states(self, thread_id: str, turn_id: str) -> dict[str, ToolCallState]: ...

    async def db_time(self) -> float:
        """The database's clock, in seconds since the epoch; lease math uses it."""
        ...

    async def check_integrity(self) -> list[str]:
        """Problems the database itself finds; empty when all is well."""
        ...

    async def get_turn(self, turn_id: str) -> TurnRecord | None: ...

    async def list_turns(self, thread_id: str) -> list[TurnRecord]: ...

    async def list_steps(self, thread_id: str, turn_id: str) -> list[StepRecord]:
        """The step records of the thread's turn `turn_id`, by number (written by
        `write_turn` with `TurnWrite.steps`); empty for a turn the thread does not have."""
        ...

    async def list_spans(self, thread_id: str, turn_id: str) -> list[SpanRecord]:
        """The trace spans of the thread's turn `turn_id`, each after its parent, siblings by
        start (written by `write_turn` with `TurnWrite.spans`); empty for a turn the thread
        does not have."""
        ...

    async def prune_spans(self, ended_before: float) -> int:
        """Delete every span that ended before `ended_before` (seconds since the epoch);
        how many were deleted."""
        ...

    async def load_items(
        self,
        thread_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[Item]: ...

    async def query_items(self, query: ItemQuery) -> list[Item]:
        """The items of a thread that `query` selects: a page of its history, read in
        either direction, or the items with given ids or of given tool calls."""
        ...

    async def load_events(
        self,
        thread_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[Event]: ...

    async def enqueue(self, entry: InboxEntry) -> InboxEntry:
        """Append to the thread's inbox; the same `client_key` returns the first entry."""
        ...

    async def peek_inbox(self, thread_id: str) -> InboxEntry | None:
        """The oldest inbox entry of the thread, if any."""
        ...

    async def list_inbox(self, thread_id: str) -> list[InboxEntry]: ...

    async def steering(self, thread_id: str) -> list[InboxEntry]: ...

    async def schedule_timer(self, timer: TimerRecord) -> TimerRecord: ...

    async def cancel_timer(self, thread_id: str, timer_id: str) -> bool:
        """Cancel a pending timer of the thread; False if the thread has no such timer."""
        ...

    async def list_timers(
        self, thread_id: str, *, pending_only: bool = True
    ) -> list[TimerRecord]: ...

    async def fire_due_timers(self, limit: int = 100) -> list[TimerRecord]:
        """Enqueue the effect of every due timer, each exactly once."""
        ...

    # -- a thread's files (`_ops_files`) -------------------------------------------------------

    async def stat_file(self, thread_id: str, path: str) -> FileInfo | None:
        """The file or directory at `path` (`""`: the root, there while the thread is)."""
        ...

    async def list_files(self, thread_id: str, directory: str = "") -> list[FileInfo]:
        """Every file under `directory`, however deep, by path."""
        ...

    async def read_file(self, thread_id: str, path: str) -> tuple[FileInfo, bytes] | None: ...

    async def read_files(
        self, thread_id: str, file_ids: Sequence[str]
    ) -> dict[str, tuple[FileInfo, bytes]]:
        """The thread's files with these ids, with their content, by id; an id of no file of
        the thread is left out."""
        ...

    async def stat_files(self, thread_id: str, file_ids: Sequence[str]) -> dict[str, FileInfo]:
        """The thread's files with these ids, by id; an id of no file of the thread is left
        out."""
        ...

    async def change_files(
        self, thread_id: str, changes: Sequence[FileOp], *, quota_bytes: int | None
    ) -> list[FileInfo | None]:
        """Apply `changes` in order, in one transaction; each is checked, and one that fails
        (a directory in the way, a move of nothing, the thread's files over `quota_bytes`:
        `FileQuotaExceededError`) raises and nothing is written. Returns what each change
        left at its path (a move: at its destination); None for a delete of nothing."""
        ...

    async def copy_file(
        self,
        source_thread_id: str,
        file_id: str,
        destination_thread_id: str,
        destination: str | None,
        *,
        quota_bytes: int | None,
        new_file_id: str,
        at: float,
    ) -> FileInfo:
        """Copy a file of one thread into another, at `destination` (None: its path in the
        source thread) or, if that is taken, at the first free `name-2.ext`, `name-3.ext`...,
        as `new_file_id`. An id of no file of the source thread is `NotFoundError`."""
        ...

    # -- the environment ---------------------------------------------------------------------

    async def set_env(self, entry: EnvEntry, *, propagate: bool = False) -> list[str]:
        """Store an environment value (a secret's as its ciphertext), replacing the one of the
        same scope, owner and name. A thread's value with `propagate` is stored for each of
        the thread's descendants (by `parent_id`) that is not archived too. Returns the
        threads written; raises `NotFoundError` for a thread that does not exist."""
        ...

    async def get_env(self, name: str, owners: Sequence[tuple[EnvScope, str]]) -> list[EnvEntry]:
        """The stored values of `name` for each `(scope, owner)` given, in no order."""
        ...

    async def delete_env(
        self, scope: EnvScope, owner: str, name: str, *, propagate: bool = False
    ) -> list[str]:
        """Remove a stored value (for a thread with `propagate`, its descendants' too, as
        `set_env` wrote them). Returns the owners that had one."""
        ...

    # -- observational memory ----------------------------------------------------------------

    async def list_observations(
        self, scope: MemoryScope, owner: str, namespace: str | None = None
    ) -> list[Observation]:
        """The observations of a resource (or a thread) in `namespace` (None: every
        namespace), oldest observed first."""
        ...

    async def get_observation(
        self, observation_id: str, scope: MemoryScope, owner: str, namespace: str | None = None
    ) -> Observation | None:
        """One observation of that owner; None for an unknown id and for another owner's."""
        ...

    async def update_observation(
        self,
        observation_id: str,
        scope: MemoryScope,
        owner: str,
        namespace: str | None,
        text: str,
        *,
        at: float,
    ) -> Observation | None:
        """Replace an observation's text; None (nothing changed) if the owner has no such
        observation."""
        ...

    async def delete_observations(
        self,
        scope: MemoryScope,
        owner: str,
        namespace: str | None = None,
        observation_id: str | None = None,
    ) -> int:
        """Remove one observation of the owner, or all of them without an id; how many."""
        ...

    async def thread_memory(self, thread_id: str) -> ThreadMemory | None:
        """A thread's memory namespace and watermark; None before its first use."""
        ...

    async def bind_memory(self, thread_id: str, namespace: str) -> ThreadMemory:
        """The thread's memory in `namespace`, set on first use. Raises `InvalidInputError`
        if the thread uses another namespace, `NotFoundError` if it does not exist."""
        ...

    async def record_observations(
        self,
        thread_id: str,
        namespace: str,
        *,
        after: int,
        through: int,
        observations: Sequence[Observation],
    ) -> bool:
        """In one transaction, store observations of the thread's items after seq `after` up
        to `through` and move its watermark to `through`, if it is still at `after`; False
        (nothing written) otherwise, so an observer run twice stores its work once."""
        ...

    async def replace_observations(
        self,
        scope: MemoryScope,
        owner: str,
        namespace: str,
        replaced: Sequence[str],
        observations: Sequence[Observation],
    ) -> bool:
        """In one transaction, put `observations` in the place of `replaced` (ids of that
        owner); False (nothing written) if one of them is gone."""
        ...
