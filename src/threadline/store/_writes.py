from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from threadline.types import (
    Event,
    InboxEntry,
    Item,
    ItemType,
    SpanRecord,
    StepRecord,
    ThreadRecord,
    TimerRecord,
    TurnRecord,
    TurnStatus,
    Usage,
)

ToolCallState = Literal[
    "requested",  # the model asked for it
    "awaiting_approval",  # a human must decide first
    "started",  # committed right before the tool is invoked
    "succeeded",
    "failed",  # the tool returned, or raised
    "denied",  # a human said no; the tool never ran
    "unknown",  # it started and no result was recorded: it may or may not have taken effect
    "external",  # the caller runs it (a client-side tool) and submits its result
]


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadCursor:
    """The last item and event sequence numbers of a thread, as its turn owner knows them."""

    last_item_seq: int
    last_event_seq: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BeginTurn:
    """Start a turn: store it with its first items and events, and make it the thread's active
    turn, all in one transaction. `expected` must equal the thread's stored cursor.

    If another turn is active: with `enqueue_if_busy` the input goes to the inbox instead,
    otherwise `TurnInProgressError`. A `client_key` already used on the thread returns what
    that first submission created and writes nothing.
    """

    turn: TurnRecord
    expected: ThreadCursor
    owner: str | None  # the process that will run the turn; None: store it for a worker
    lease_seconds: float
    items: Sequence[Item] = ()
    events: Sequence[Event] = ()
    enqueue_if_busy: bool = False
    inbox_entry_id: str | None = None  # the inbox entry this turn consumes
    tool_states: Mapping[str, ToolCallState] = field(default_factory=dict[str, "ToolCallState"])


@dataclass(frozen=True, kw_only=True, slots=True)
class AppendItems:
    """Add items (and their events) to the history of a thread that has no unfinished turn,
    outside any turn, in one transaction. `expected` must equal the thread's stored cursor."""

    thread_id: str
    expected: ThreadCursor
    items: Sequence[Item]
    events: Sequence[Event] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Written:
    """What a turn's write found, in the same transaction: is input waiting for the thread?"""

    queued_input: bool  # inbox entries that start their own turn
    steering: bool  # entries waiting to join the running turn


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnStarted:
    turn: TurnRecord
    cursor: ThreadCursor
    items: tuple[Item, ...]
    epoch: int
    written: Written  # the inbox as this write found it


@dataclass(frozen=True, kw_only=True, slots=True)
class Lease:
    """A lease taken on a thread's active turn: writes must carry its `epoch`."""

    thread_id: str
    turn_id: str
    owner: str
    epoch: int
    cursor: ThreadCursor


@dataclass(frozen=True, kw_only=True, slots=True)
class Enqueued:
    entry: InboxEntry
    active_turn_id: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Duplicate:
    """The client key was seen before; these are the ids its first submission created."""

    turn: TurnRecord | None
    entry: InboxEntry | None


BeginOutcome = TurnStarted | Enqueued | Duplicate


_UNSET: Any = object()

FileOpKind = Literal["write", "append", "delete", "move"]


@dataclass(frozen=True, kw_only=True, slots=True)
class FileOp:
    """One change to a thread's files; a write applies its changes in order. `write` replaces
    (or creates) the file at `path` with `data`, `append` adds `data` to its end (creating
    it), `delete` removes the file or the directory at `path`, `move` renames `path` (a file
    or a directory) to `destination`, replacing a file there. A file that is created gets
    `file_id`."""

    kind: FileOpKind
    path: str
    at: float  # when the change was made: the file's `updated_at`
    data: bytes = b""
    destination: str | None = None
    file_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnWrite:
    """Everything one step of a turn changes, written in one transaction, fenced by the lease:
    the turn must be the thread's active turn and `epoch` its current, unexpired lease (a stale
    owner gets `LeaseLost` and nothing is written)."""

    thread_id: str
    turn_id: str
    epoch: int
    cursor: ThreadCursor  # the thread's cursor after this write
    expected: ThreadCursor | None = None  # the cursor before it: refused if it differs
    items: Sequence[Item] = ()
    events: Sequence[Event] = ()
    turn_status: TurnStatus | None = None
    usage: Usage | None = None
    steps: int | None = None
    running_seconds: float | None = None  # the turn's running time so far
    error: dict[str, Any] | None = None
    thread_state: dict[str, Any] | None = field(default=_UNSET)
    end: Literal["release", "pause"] | None = None  # release: the turn is over; pause: it
    # waits for a human, keeping the thread but not the lease
    wake_after: float | None = None  # with "pause": seconds until recovery looks again
    # The state of each tool call named, kept with its call item: of this write, or stored
    # before (a call the thread does not hold is `InvalidInputError`).
    tool_states: Mapping[str, ToolCallState] = field(default_factory=dict[str, ToolCallState])
    consume_inbox: Sequence[str] = ()  # steering entries this write turns into items
    timers: Sequence[TimerRecord] = ()  # effects a tool scheduled, stored with its result
    options: dict[str, Any] | None = None  # replaces the turn's stored per-run options
    # Changes a tool made to the thread's files, stored with its result. Applied as made
    # against the files as they are now (a change that no longer applies, such as moving a
    # file since deleted, is skipped); the quota was checked when the tool made them.
    files: Sequence[FileOp] = ()
    # The thread's parent (a child thread's): a write that ends the turn makes the parent's
    # paused turn, which may wait for this one, due to look again.
    parent_id: str | None = None
    # The step records this write ends or pauses, upserted by their number in the turn.
    step_records: Sequence[StepRecord] = ()
    # The trace spans this write ends or stores open, upserted by their span id in the turn.
    spans: Sequence[SpanRecord] = ()

    @property
    def sets_state(self) -> bool:
        return self.thread_state is not _UNSET


WorkKind = Literal[
    "expired",  # a running turn whose owner's lease ran out
    "wake",  # a paused or handed-back turn that recovery should continue
    "inbox",  # an idle thread with queued input
]
WORK_KINDS: tuple[WorkKind, ...] = ("expired", "wake", "inbox")


@dataclass(frozen=True, kw_only=True, slots=True)
class Work:
    kind: WorkKind
    thread_id: str
    turn_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Renewal:
    held: dict[str, int]  # thread_id -> epoch, for every lease the owner still holds
    cancel_requested: set[str]  # threads whose active turn was asked to stop


@dataclass(frozen=True, kw_only=True, slots=True)
class ItemQuery:
    """Which of a thread's items to read: those with `after_seq < seq < before_seq` that
    match every filter given, in `seq` order (newest first if asked), at most `limit`.
    A filter that is an empty sequence matches nothing. Without `thread_id`, the items of
    any thread that have the given `item_ids` (which are then required)."""

    thread_id: str | None
    after_seq: int = 0
    before_seq: int | None = None
    newest_first: bool = False
    limit: int | None = None
    item_ids: Sequence[str] | None = None
    call_ids: Sequence[str] | None = None  # the tool call an item belongs to
    types: Sequence[ItemType] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadPage:
    threads: list[ThreadRecord]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class ThreadUpdate:
    """Fields of a thread to change outside a turn. Unset fields are kept. `metadata`
    replaces the metadata; `metadata_patch` is merged into it as stored when the write runs
    (a JSON merge patch, RFC 7396: a null removes its key), so that writers that change
    different keys at once all keep their change."""

    mode: str | None = _UNSET
    status: str = _UNSET
    state: dict[str, Any] | None = _UNSET
    metadata: dict[str, Any] = _UNSET
    metadata_patch: dict[str, Any] = _UNSET

    def changes(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in ("mode", "status", "state", "metadata", "metadata_patch")
            if getattr(self, name) is not _UNSET
        }
