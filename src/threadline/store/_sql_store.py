"""`SQLStore`: the `Store` protocol over any SQL dialect, written once.

Every method builds an operation (`_ops_*`) or a read and hands it to the dialect's `_read`
or `_write`. A dialect (`SQLiteStore`, `PostgresStore`) provides only those two, its
lifecycle and its spelling of `_sql.TOKENS`; a third database would be one more such file.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from threadline.types import (
    EnvEntry,
    EnvScope,
    Event,
    FileInfo,
    InboxEntry,
    InvalidInputError,
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

from . import _codec as codec
from . import _ops_env as env
from . import _ops_events as events
from . import _ops_family as family  # pyright: ignore[reportPrivateUsage]
from . import _ops_files as files
from . import _ops_inbox as inbox
from . import _ops_leases as leases
from . import _ops_lifecycle as lifecycle  # pyright: ignore[reportPrivateUsage]
from . import _ops_memory as memory
from . import _ops_snapshot as snapshots  # pyright: ignore[reportPrivateUsage]
from . import _ops_spans as spans
from . import _ops_steps as steps
from . import _ops_threads as threads  # pyright: ignore[reportPrivateUsage]
from . import _ops_turns as turns
from ._compact import TOOL_CALL
from ._ops_family import Spawn, Spawned
from ._ops_lifecycle import Terminate, Terminated
from ._ops_snapshot import ThreadSnapshot
from ._sql import Op, OpFactory, Sql, one, rows
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

T = TypeVar("T")


def _fetch(statement: Sql) -> Op[Any]:
    return (yield statement)


class SQLStore(ABC):
    @abstractmethod
    async def _read(self, op: OpFactory[T]) -> T:
        """Run a read-only operation; it sees every write that has returned."""

    @abstractmethod
    async def _write(self, op: OpFactory[T], *, replay_safe: bool = False) -> T:
        """Run a write in one transaction, to its end even if the caller is cancelled.
        `replay_safe`: running it twice has the effect of running it once."""

    async def _select(self, statement: Sql) -> Any:
        return await self._read(lambda: _fetch(statement))

    # -- threads -----------------------------------------------------------------------------

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        # With a key, repeating the insert finds the stored thread.
        return await self._write(
            lambda: threads.create_thread(thread), replay_safe=thread.key is not None
        )

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return await self._select(
            one(
                f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE thread_id = ?",
                thread_id,
                decode=codec.thread_from_row,
            )
        )

    async def list_threads(
        self,
        *,
        user_id: str | None = None,
        status: ThreadStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> ThreadPage:
        if limit < 1 or limit > 1000:
            raise InvalidInputError("limit must be between 1 and 1000")
        clauses: list[str] = []
        params: list[Any] = []
        if user_id is not None:
            clauses.append("user_id = ?")
            params.append(user_id)
        if status is None:
            clauses.append("status != 'archived'")
        else:
            clauses.append("status = ?")
            params.append(status)
        if cursor is not None:
            created_at, thread_id = _parse_cursor(cursor)
            clauses.append("(created_at, thread_id) < (?, ?)")
            params += [created_at, thread_id]
        found: list[ThreadRecord] = await self._select(
            rows(
                f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE {' AND '.join(clauses)} "
                "ORDER BY created_at DESC, thread_id DESC LIMIT ?",
                *params,
                limit + 1,
                decode=codec.thread_from_row,
            )
        )
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            next_cursor = f"{page[-1].created_at!r}~{page[-1].thread_id}"
        return ThreadPage(threads=page, next_cursor=next_cursor)

    async def find_open_thread(self, *, user_id: str, agent: str) -> ThreadRecord | None:
        return await self._select(
            one(
                f"SELECT {codec.THREAD_COLUMNS} FROM {{threads}} WHERE user_id = ? AND agent = ? "
                "AND parent_id IS NULL AND status NOT IN ('archived', 'terminated') "
                "ORDER BY created_at DESC, "
                "thread_id DESC LIMIT 1",
                user_id,
                agent,
                decode=codec.thread_from_row,
            )
        )

    async def update_thread(self, thread_id: str, update: ThreadUpdate) -> ThreadRecord:
        changes = update.changes()
        return await self._write(
            lambda: threads.update_thread(thread_id, changes), replay_safe=True
        )

    async def delete_thread(self, thread_id: str) -> bool:
        return await self._write(lambda: threads.delete_thread(thread_id))

    # -- child threads -------------------------------------------------------------------------

    async def spawn_thread(self, request: Spawn) -> Spawned:
        # A repeat after an unknown commit finds the child and returns it, not created.
        return await self._write(lambda: family.spawn_thread(request), replay_safe=True)

    async def list_children(self, parent_id: str) -> list[ThreadRecord]:
        return await self._read(lambda: family.list_children(parent_id))

    async def get_child(self, parent_id: str, reference_id: str) -> ThreadRecord | None:
        return await self._read(lambda: family.get_child(parent_id, reference_id))

    async def terminate_thread(self, request: Terminate) -> Terminated:
        # A repeat finds the thread terminated and the reason's item stored.
        return await self._write(lambda: lifecycle.terminate_thread(request), replay_safe=True)

    # -- a thread moved between stores ----------------------------------------------------------

    async def export_thread(self, thread_id: str) -> ThreadSnapshot:
        return await self._read(lambda: snapshots.export_thread(thread_id))

    async def import_thread(self, snapshot: ThreadSnapshot) -> ThreadRecord:
        return await self._write(lambda: snapshots.import_thread(snapshot))

    # -- turns -------------------------------------------------------------------------------

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome:
        # With a client key, a repeat after an unknown commit returns `Duplicate`.
        return await self._write(
            lambda: turns.begin_turn(request), replay_safe=request.turn.client_key is not None
        )

    async def append_items(self, request: AppendItems) -> None:
        await self._write(lambda: turns.append_items(request))

    async def write_turn(self, write: TurnWrite) -> Written:
        return await self._write(lambda: turns.write_turn(write))

    async def acquire_lease(
        self, thread_id: str, turn_id: str, *, owner: str, lease_seconds: float
    ) -> Lease | None:
        return await self._write(
            lambda: leases.acquire_lease(thread_id, turn_id, owner, lease_seconds)
        )

    async def renew_leases(self, owner: str, lease_seconds: float) -> Renewal:
        return await self._write(
            lambda: leases.renew_leases(owner, lease_seconds), replay_safe=True
        )

    async def hand_back(self, thread_id: str, epoch: int) -> bool:
        return await self._write(lambda: leases.hand_back(thread_id, epoch))

    async def request_cancel(self, turn_id: str) -> bool:
        return await self._write(lambda: leases.request_cancel(turn_id), replay_safe=True)

    async def wake(self, thread_id: str) -> None:
        await self._write(lambda: leases.wake(thread_id), replay_safe=True)

    async def find_work(
        self, limit: int = 100, *, kinds: Collection[WorkKind] = WORK_KINDS
    ) -> list[Work]:
        return await self._read(lambda: threads.find_work(limit, kinds))

    async def claim_turns(
        self, owner: str, *, lease_seconds: float, limit: int = 100, skip: Sequence[str] = ()
    ) -> list[Lease]:
        return await self._write(
            lambda: leases.claim_turns(owner, lease_seconds, limit, tuple(skip))
        )

    async def load_tool_states(self, thread_id: str, turn_id: str) -> dict[str, ToolCallState]:
        # The turn's calls, found through the (tkey, type, call_id) index: not all items.
        found = await self._select(
            rows(
                "SELECT i.call_id, i.tool_state FROM {turns} t JOIN {items} i ON i.tkey = t.tkey "
                "AND i.seq IN (SELECT c.seq FROM {items} c WHERE c.tkey = t.tkey AND c.type = ? "
                "AND c.call_id IS NOT NULL) WHERE t.turn_id = ? AND t.tkey = (SELECT tkey FROM "
                "{threads} WHERE thread_id = ?) AND i.turn = t.number AND "
                "i.tool_state IS NOT NULL",
                TOOL_CALL,
                codec.turn_key(turn_id),
                thread_id,
                decode=codec.tool_state_from_row,
            )
        )
        return dict(found)

    async def db_time(self) -> float:
        return float((await self._select(one("SELECT {now}")))[0])

    async def get_turn(self, turn_id: str) -> TurnRecord | None:
        return await self._select(
            one(
                f"SELECT {codec.TURN_COLUMNS} FROM {codec.TURNS} WHERE t.turn_id = ?",
                codec.turn_key(turn_id),
                decode=codec.turn_from_row,
            )
        )

    async def list_turns(self, thread_id: str) -> list[TurnRecord]:
        return await self._select(
            rows(
                f"SELECT {codec.TURN_COLUMNS} FROM {codec.TURNS} WHERE th.thread_id = ? "
                "ORDER BY t.number",
                thread_id,
                decode=codec.turn_from_row,
            )
        )

    async def list_steps(self, thread_id: str, turn_id: str) -> list[StepRecord]:
        return await self._read(lambda: steps.list_steps(thread_id, turn_id))

    async def list_spans(self, thread_id: str, turn_id: str) -> list[SpanRecord]:
        return await self._read(lambda: spans.list_spans(thread_id, turn_id))

    async def prune_spans(self, ended_before: float) -> int:
        return await self._write(lambda: spans.prune_spans(ended_before))

    # -- items and events ----------------------------------------------------------------------

    async def load_items(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Item]:
        return await self._read(lambda: threads.load_items(thread_id, after_seq, limit))

    async def query_items(self, query: ItemQuery) -> list[Item]:
        statement = codec.item_query(query, "?")
        if statement is None:
            return []
        text, params = statement
        return await self._select(rows(text, *params, decode=codec.item_from_row))

    async def load_events(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        return await self._read(lambda: events.load_events(thread_id, after_seq, limit))

    # -- inbox and timers ------------------------------------------------------------------------

    async def enqueue(self, entry: InboxEntry) -> InboxEntry:
        # With a client key, a repeat after an unknown commit returns the stored entry.
        return await self._write(
            lambda: inbox.enqueue(entry), replay_safe=entry.client_key is not None
        )

    async def peek_inbox(self, thread_id: str) -> InboxEntry | None:
        return await self._select(
            one(
                f"SELECT {codec.INBOX_COLUMNS} FROM {{inbox}} WHERE thread_id = ? AND "
                "kind != 'steer' ORDER BY position LIMIT 1",
                thread_id,
                decode=codec.inbox_from_row,
            )
        )

    async def steering(self, thread_id: str) -> list[InboxEntry]:
        """The thread's entries waiting to join its running turn, oldest first."""
        return await self._inbox(thread_id, "AND kind = 'steer' ")

    async def list_inbox(self, thread_id: str) -> list[InboxEntry]:
        return await self._inbox(thread_id, "")

    async def _inbox(self, thread_id: str, condition: str) -> list[InboxEntry]:
        return await self._select(
            rows(
                f"SELECT {codec.INBOX_COLUMNS} FROM {{inbox}} WHERE thread_id = ? {condition}"
                "ORDER BY position",
                thread_id,
                decode=codec.inbox_from_row,
            )
        )

    async def schedule_timer(self, timer: TimerRecord) -> TimerRecord:
        return await self._write(lambda: inbox.schedule_timer(timer))

    async def cancel_timer(self, thread_id: str, timer_id: str) -> bool:
        return await self._write(lambda: inbox.cancel_timer(thread_id, timer_id))

    async def list_timers(self, thread_id: str, *, pending_only: bool = True) -> list[TimerRecord]:
        pending = " AND status = 'pending'" if pending_only else ""
        return await self._select(
            rows(
                f"SELECT {codec.TIMER_COLUMNS} FROM {{timers}} WHERE thread_id = ?{pending} "
                "ORDER BY due_at",
                thread_id,
                decode=codec.timer_from_row,
            )
        )

    async def fire_due_timers(self, limit: int = 100) -> list[TimerRecord]:
        # A repeat after an unknown commit finds those timers fired: none fires twice.
        return await self._write(lambda: inbox.fire_due_timers(limit), replay_safe=True)

    # -- a thread's files ----------------------------------------------------------------------

    async def stat_file(self, thread_id: str, path: str) -> FileInfo | None:
        return await self._read(lambda: files.stat_file(thread_id, path))

    async def list_files(self, thread_id: str, directory: str = "") -> list[FileInfo]:
        return await self._read(lambda: files.list_files(thread_id, directory))

    async def read_file(self, thread_id: str, path: str) -> tuple[FileInfo, bytes] | None:
        return await self._read(lambda: files.read_file(thread_id, path))

    async def read_files(
        self, thread_id: str, file_ids: Sequence[str]
    ) -> dict[str, tuple[FileInfo, bytes]]:
        return await self._read(lambda: files.read_files(thread_id, file_ids))

    async def stat_files(self, thread_id: str, file_ids: Sequence[str]) -> dict[str, FileInfo]:
        return await self._read(lambda: files.stat_files(thread_id, file_ids))

    async def change_files(
        self, thread_id: str, changes: Sequence[FileOp], *, quota_bytes: int | None
    ) -> list[FileInfo | None]:
        return await self._write(lambda: files.change_files(thread_id, changes, quota_bytes))

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
        return await self._write(
            lambda: files.copy_file(
                source_thread_id,
                file_id,
                destination_thread_id,
                destination,
                quota_bytes,
                new_file_id,
                at,
            )
        )

    # -- the environment -----------------------------------------------------------------------

    async def set_env(self, entry: EnvEntry, *, propagate: bool = False) -> list[str]:
        # An upsert of the same values: a repeat after an unknown commit changes nothing.
        return await self._write(lambda: env.set_env(entry, propagate), replay_safe=True)

    async def get_env(self, name: str, owners: Sequence[tuple[EnvScope, str]]) -> list[EnvEntry]:
        pairs = list(owners)
        return await self._read(lambda: env.get_env(name, pairs))

    async def delete_env(
        self, scope: EnvScope, owner: str, name: str, *, propagate: bool = False
    ) -> list[str]:
        return await self._write(
            lambda: env.delete_env(scope, owner, name, propagate), replay_safe=True
        )

    # -- observational memory ------------------------------------------------------------------

    async def list_observations(
        self, scope: MemoryScope, owner: str, namespace: str | None = None
    ) -> list[Observation]:
        return await self._read(lambda: memory.list_observations(scope, owner, namespace))

    async def get_observation(
        self, observation_id: str, scope: MemoryScope, owner: str, namespace: str | None = None
    ) -> Observation | None:
        return await self._read(
            lambda: memory.get_observation(observation_id, scope, owner, namespace)
        )

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
        return await self._write(
            lambda: memory.update_observation(observation_id, scope, owner, namespace, text, at),
            replay_safe=True,
        )

    async def delete_observations(
        self,
        scope: MemoryScope,
        owner: str,
        namespace: str | None = None,
        observation_id: str | None = None,
    ) -> int:
        return await self._write(
            lambda: memory.delete_observations(scope, owner, namespace, observation_id)
        )

    async def thread_memory(self, thread_id: str) -> ThreadMemory | None:
        return await self._read(lambda: memory.thread_memory(thread_id))

    async def bind_memory(self, thread_id: str, namespace: str) -> ThreadMemory:
        return await self._write(lambda: memory.bind_memory(thread_id, namespace), replay_safe=True)

    async def record_observations(
        self,
        thread_id: str,
        namespace: str,
        *,
        after: int,
        through: int,
        observations: Sequence[Observation],
    ) -> bool:
        return await self._write(
            lambda: memory.record_observations(thread_id, namespace, after, through, observations)
        )

    async def replace_observations(
        self,
        scope: MemoryScope,
        owner: str,
        namespace: str,
        replaced: Sequence[str],
        observations: Sequence[Observation],
    ) -> bool:
        return await self._write(
            lambda: memory.replace_observations(scope, owner, namespace, replaced, observations)
        )


def _parse_cursor(cursor: str) -> tuple[float, str]:
    try:
        created_at, thread_id = cursor.split("~", 1)
        return float(created_at), thread_id
    except ValueError:
        raise InvalidInputError("invalid cursor: pass the next_cursor of a previous page") from None
