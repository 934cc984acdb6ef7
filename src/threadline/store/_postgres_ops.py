"""The write transactions of the PostgreSQL store, mirroring `_sqlite_ops` one for one. Each runs
inside one transaction opened by the store; raising rolls it back.

SQLite runs one writer at a time; here many transactions run at once, so each function takes
the row locks that give it the same outcome: `begin_turn` and `enqueue` lock the thread row
before reading anything, lease changes are single conditional UPDATEs (re-checked against the
latest row version when they wait on a lock), and timers are claimed with SKIP LOCKED.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from threadline.types import (
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    LeaseLost,
    NotFoundError,
    ThreadRecord,
    TimerRecord,
    TurnInProgressError,
)

from . import _codec as codec
from ._postgres_schema import OWNER_KEY
from ._postgres_sql import (
    NOW,
    Connection,
    Row,
    Tables,
    execute,
    fetchall,
    fetchone,
    insert,
    notify,
    placeholders,
)
from ._sqlite_ops import CursorMovedError
from ._writes import (
    AppendItems,
    BeginOutcome,
    BeginTurn,
    Duplicate,
    Enqueued,
    Lease,
    Renewal,
    ThreadCursor,
    ToolCallState,
    TurnStarted,
    TurnWrite,
    Written,
)


async def _thread_row(conn: Connection, t: Tables, thread_id: str, *, lock: bool = False) -> Row:
    row = await fetchone(
        conn,
        "SELECT active_turn_id, last_item_seq, last_event_seq, turn_count, status "
        f"FROM {t.threads} WHERE thread_id = %s{' FOR UPDATE' if lock else ''}",
        (thread_id,),
    )
    if row is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return row


async def create_thread(conn: Connection, t: Tables, thread: ThreadRecord) -> ThreadRecord:
    codec.check_thread(thread)
    if thread.key is not None:
        row = await fetchone(
            conn,
            f"SELECT {codec.THREAD_COLUMNS} FROM {t.threads} "
            "WHERE key = %s AND user_id IS NOT DISTINCT FROM %s",
            (thread.key, thread.user_id),
        )
        if row is not None:
            return codec.thread_from_row(row)
    # ON CONFLICT on the owner's key: two processes creating the same keyed thread at once both
    # get the one that was stored, as they would one after the other.
    if await execute(
        conn,
        f"INSERT INTO {t.threads} ({codec.THREAD_COLUMNS}) VALUES "
        f"({placeholders(codec.THREAD_COLUMNS)}) "
        f"ON CONFLICT {OWNER_KEY} DO NOTHING",
        codec.thread_row(thread),
    ):
        return thread
    return await create_thread(conn, t, thread)


async def update_thread(
    conn: Connection, t: Tables, thread_id: str, changes: dict[str, Any]
) -> ThreadRecord:
    codec.check_text(mode=changes.get("mode"), status=changes.get("status"))
    assignments = ["updated_at = %s"]
    values: list[Any] = [time.time()]
    for name, value in changes.items():
        assignments.append(f"{name} = %s")
        values.append(
            codec.dumps(value) if name in ("state", "metadata") and value is not None else value
        )
    row = await fetchone(
        conn,
        f"UPDATE {t.threads} SET {', '.join(assignments)} WHERE thread_id = %s "
        f"RETURNING {codec.THREAD_COLUMNS}",
        (*values, thread_id),
    )
    if row is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return codec.thread_from_row(row)


async def delete_thread(conn: Connection, t: Tables, thread_id: str) -> bool:
    # The thread row first, as the other writes of a thread take it first: no lock-order
    # deadlock with a turn that is starting.
    await fetchone(conn, f"SELECT 1 FROM {t.threads} WHERE thread_id = %s FOR UPDATE", (thread_id,))
    for table in (t.items, t.events, t.turns, t.inbox, t.tool_calls, t.timers):
        await execute(conn, f"DELETE FROM {table} WHERE thread_id = %s", (thread_id,))
    return await execute(conn, f"DELETE FROM {t.threads} WHERE thread_id = %s", (thread_id,)) > 0


async def enqueue(conn: Connection, t: Tables, entry: InboxEntry) -> InboxEntry:
    codec.check_inbox(entry)
    # The lock makes concurrent enqueues on one thread take turns: each sees the position and
    # client keys the previous one committed.
    status = (await _thread_row(conn, t, entry.thread_id, lock=True))[4]
    if entry.client_key is not None:
        row = await fetchone(
            conn,
            f"SELECT {codec.INBOX_COLUMNS} FROM {t.inbox} WHERE thread_id = %s AND client_key = %s",
            (entry.thread_id, entry.client_key),
        )
        if row is not None:
            return codec.inbox_from_row(row)
        row = await fetchone(
            conn,
            f"SELECT {codec.TURN_COLUMNS} FROM {t.turns} WHERE thread_id = %s AND client_key = %s",
            (entry.thread_id, entry.client_key),
        )
        if row is not None:
            return codec.entry_of_turn(codec.turn_from_row(row))
    if status == "archived":
        raise InvalidInputError(
            "the thread is archived: unarchive it or start a new thread", thread_id=entry.thread_id
        )
    row = await fetchone(
        conn,
        f"SELECT COALESCE(MAX(position), 0) + 1 FROM {t.inbox} WHERE thread_id = %s",
        (entry.thread_id,),
    )
    assert row is not None
    stored = InboxEntry(
        entry_id=entry.entry_id,
        thread_id=entry.thread_id,
        position=row[0],
        input=entry.input,
        sender=entry.sender,
        client_key=entry.client_key,
        created_at=entry.created_at,
        kind=entry.kind,
    )
    await insert(
        conn,
        f"INSERT INTO {t.inbox} ({codec.INBOX_COLUMNS}) VALUES "
        f"({placeholders(codec.INBOX_COLUMNS)})",
        [codec.inbox_row(stored)],
    )
    await notify(conn, work=[entry.thread_id])
    return stored


async def begin_turn(conn: Connection, t: Tables, request: BeginTurn) -> BeginOutcome:
    codec.check_text(owner=request.owner)
    codec.check_turn(request.turn)
    turn = request.turn
    # Locked before any check, so that a concurrent begin_turn (or a retry of this one) sees
    # everything the other committed: its turn, its client key, its cursor.
    active_turn_id, last_item_seq, last_event_seq, turn_count, status = await _thread_row(
        conn, t, turn.thread_id, lock=True
    )
    if turn.client_key is not None:
        row = await fetchone(
            conn,
            f"SELECT {codec.TURN_COLUMNS} FROM {t.turns} WHERE thread_id = %s AND client_key = %s",
            (turn.thread_id, turn.client_key),
        )
        if row is not None:
            if request.inbox_entry_id is not None:
                # The queued input already ran: left queued, it would block the queue forever.
                await execute(
                    conn, f"DELETE FROM {t.inbox} WHERE entry_id = %s", (request.inbox_entry_id,)
                )
            return Duplicate(turn=codec.turn_from_row(row), entry=None)
        if request.inbox_entry_id is None:
            row = await fetchone(
                conn,
                f"SELECT {codec.INBOX_COLUMNS} FROM {t.inbox} WHERE "
                "thread_id = %s AND client_key = %s",
                (turn.thread_id, turn.client_key),
            )
            if row is not None:
                return Duplicate(turn=None, entry=codec.inbox_from_row(row))
    if status == "archived":
        raise InvalidInputError(
            "the thread is archived: unarchive it or start a new thread", thread_id=turn.thread_id
        )
    if active_turn_id is not None:
        if request.enqueue_if_busy and request.inbox_entry_id is None:
            entry = await enqueue(
                conn,
                t,
                codec.entry_of_turn(turn),
            )
            return Enqueued(entry=entry, active_turn_id=active_turn_id)
        raise TurnInProgressError(
            f"thread {turn.thread_id} already has an unfinished turn ({active_turn_id}); pass "
            "on_busy='enqueue' to queue the input",
            thread_id=turn.thread_id,
            active_turn_id=active_turn_id,
        )
    expected = request.expected
    if (last_item_seq, last_event_seq, turn_count) != (
        expected.last_item_seq,
        expected.last_event_seq,
        turn.number - 1,
    ):
        raise CursorMovedError("the thread changed since it was read", thread_id=turn.thread_id)
    if (
        request.inbox_entry_id is not None
        and await execute(
            conn, f"DELETE FROM {t.inbox} WHERE entry_id = %s", (request.inbox_entry_id,)
        )
        == 0
    ):
        raise CursorMovedError(
            "the inbox entry was taken by another turn", thread_id=turn.thread_id
        )
    await insert(
        conn,
        f"INSERT INTO {t.turns} ({codec.TURN_COLUMNS}) VALUES ({placeholders(codec.TURN_COLUMNS)})",
        [codec.turn_row(turn)],
    )
    await _insert(conn, t, request.items, request.events)
    await _set_tool_states(conn, t, turn.thread_id, turn.turn_id, 0, request.tool_states)
    cursor = ThreadCursor(
        last_item_seq=request.items[-1].seq if request.items else last_item_seq,
        last_event_seq=request.events[-1].seq if request.events else last_event_seq,
    )
    if request.owner is None:  # stored for whichever worker claims it first
        lease = f"lease_owner = NULL, lease_expires_at = NULL, wake_at = {NOW}"
        lease_values: tuple[Any, ...] = ()
    else:
        lease = (
            "lease_owner = %s, lease_epoch = lease_epoch + 1, "
            f"lease_expires_at = {NOW} + %s, wake_at = NULL"
        )
        lease_values = (request.owner, request.lease_seconds)
    row = await fetchone(
        conn,
        f"UPDATE {t.threads} SET active_turn_id = %s, status = 'active', "
        "last_item_seq = %s, last_event_seq = %s, turn_count = %s, updated_at = %s, "
        f"{lease} WHERE thread_id = %s RETURNING lease_epoch",
        (
            turn.turn_id,
            cursor.last_item_seq,
            cursor.last_event_seq,
            turn.number,
            turn.created_at,
            *lease_values,
            turn.thread_id,
        ),
    )
    assert row is not None
    await notify(
        conn,
        events=(turn.thread_id, cursor.last_event_seq) if request.events else None,
        work=[turn.thread_id] if request.owner is None else (),
    )
    return TurnStarted(turn=turn, cursor=cursor, items=tuple(request.items), epoch=row[0])


async def append_items(conn: Connection, t: Tables, request: AppendItems) -> None:
    active_turn_id, last_item_seq, last_event_seq, _, status = await _thread_row(
        conn, t, request.thread_id, lock=True
    )
    if status == "archived":
        raise InvalidInputError(
            "the thread is archived: unarchive it first", thread_id=request.thread_id
        )
    if active_turn_id is not None:
        raise TurnInProgressError(
            f"thread {request.thread_id} has an unfinished turn ({active_turn_id})",
            thread_id=request.thread_id,
            active_turn_id=active_turn_id,
        )
    expected = request.expected
    if (last_item_seq, last_event_seq) != (expected.last_item_seq, expected.last_event_seq):
        raise CursorMovedError("the thread changed since it was read", thread_id=request.thread_id)
    await _insert(conn, t, request.items, request.events)
    last_event = request.events[-1].seq if request.events else last_event_seq
    await execute(
        conn,
        f"UPDATE {t.threads} SET last_item_seq = %s, last_event_seq = %s, "
        "updated_at = %s WHERE thread_id = %s",
        (
            request.items[-1].seq if request.items else last_item_seq,
            last_event,
            time.time(),
            request.thread_id,
        ),
    )
    await notify(conn, events=(request.thread_id, last_event) if request.events else None)


async def _insert(
    conn: Connection, t: Tables, items: Sequence[Item], events: Sequence[Event]
) -> None:
    if items:
        await insert(
            conn,
            f"INSERT INTO {t.items} ({codec.ITEM_COLUMNS}) VALUES "
            f"({placeholders(codec.ITEM_COLUMNS)})",
            [codec.item_row(i) for i in items],
        )
    if events:
        now = time.time()
        await insert(
            conn,
            f"INSERT INTO {t.events} ({codec.EVENT_COLUMNS}) VALUES "
            f"({placeholders(codec.EVENT_COLUMNS)})",
            [codec.event_row(e, now) for e in events],
        )


async def _set_tool_states(
    conn: Connection,
    t: Tables,
    thread_id: str,
    turn_id: str,
    epoch: int,
    states: Mapping[str, ToolCallState],
) -> None:
    if states:
        for call_id, state in states.items():
            codec.check_text(tool_call_id=call_id, tool_state=state)
        now = time.time()
        await insert(
            conn,
            f"INSERT INTO {t.tool_calls} (thread_id, tool_call_id, turn_id, state, epoch, "
            "updated_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (thread_id, tool_call_id) "
            "DO UPDATE SET state = excluded.state, epoch = excluded.epoch, "
            "updated_at = excluded.updated_at",
            [(thread_id, call_id, turn_id, state, epoch, now) for call_id, state in states.items()],
        )


async def write_turn(conn: Connection, t: Tables, write: TurnWrite) -> Written:
    codec.check_text(turn_status=write.turn_status)
    now = time.time()
    assignments = "last_item_seq = %s, last_event_seq = %s, updated_at = %s"
    values: list[Any] = [write.cursor.last_item_seq, write.cursor.last_event_seq, now]
    if write.end == "release":
        assignments += (
            ", active_turn_id = NULL, status = 'idle', lease_owner = NULL, "
            "lease_expires_at = NULL, wake_at = NULL"
        )
    elif write.end == "pause":
        assignments += (
            ", status = 'awaiting_input', lease_owner = NULL, "
            "lease_expires_at = NULL, wake_at = "
            + ("NULL" if write.wake_after is None else f"{NOW} + %s")
        )
        if write.wake_after is not None:
            values.append(write.wake_after)
    if write.sets_state:
        assignments += ", state = %s"
        values.append(None if write.thread_state is None else codec.dumps(write.thread_state))
    lease = (
        "thread_id = %s AND active_turn_id = %s AND lease_epoch = %s AND "
        f"lease_owner IS NOT NULL AND lease_expires_at > {NOW}"
    )
    lease_values = (write.thread_id, write.turn_id, write.epoch)
    where, where_values = lease, lease_values
    if write.expected is not None:
        where += " AND last_item_seq = %s AND last_event_seq = %s"
        where_values += (write.expected.last_item_seq, write.expected.last_event_seq)
    if (
        await execute(
            conn, f"UPDATE {t.threads} SET {assignments} WHERE {where}", (*values, *where_values)
        )
        == 0
    ):
        if await fetchone(conn, f"SELECT 1 FROM {t.threads} WHERE {lease}", lease_values):
            raise CursorMovedError(
                "an earlier write of this turn was not stored", thread_id=write.thread_id
            )
        raise LeaseLost(
            f"turn {write.turn_id} no longer holds the lease on thread "
            f"{write.thread_id} (epoch {write.epoch})"
        )
    for entry_id in write.consume_inbox:
        if await execute(conn, f"DELETE FROM {t.inbox} WHERE entry_id = %s", (entry_id,)) == 0:
            raise CursorMovedError("a steering entry was taken by another turn")
    await _insert(conn, t, write.items, write.events)
    await _set_tool_states(conn, t, write.thread_id, write.turn_id, write.epoch, write.tool_states)
    for timer in write.timers:
        await schedule_timer(conn, t, timer)
    turn_assignments = ["updated_at = %s"]
    turn_values: list[Any] = [now]
    if write.turn_status is not None:
        turn_assignments.append("status = %s")
        turn_values.append(write.turn_status)
        if write.turn_status in ("completed", "failed", "cancelled"):
            turn_assignments.append("completed_at = %s")
            turn_values.append(now)
    if write.usage is not None:
        turn_assignments.append("usage = %s")
        turn_values.append(codec.dumps(write.usage.to_dict()))
    if write.steps is not None:
        turn_assignments.append("steps = %s")
        turn_values.append(write.steps)
    if write.running_seconds is not None:
        turn_assignments.append("running_seconds = %s")
        turn_values.append(write.running_seconds)
    if write.error is not None:
        turn_assignments.append("error = %s")
        turn_values.append(codec.dumps(write.error))
    if write.options is not None:
        turn_assignments.append("options = %s")
        turn_values.append(codec.dumps(write.options))
    await execute(
        conn,
        f"UPDATE {t.turns} SET {', '.join(turn_assignments)} WHERE turn_id = %s",
        (*turn_values, write.turn_id),
    )
    # Steering input the turn did not take gets a turn of its own, unless the turn was
    # interrupted: then it joins the next turn the user starts.
    if write.end == "release" and write.turn_status != "cancelled":
        await execute(
            conn,
            f"UPDATE {t.inbox} SET kind = 'input' WHERE thread_id = %s AND kind = 'steer'",
            (write.thread_id,),
        )
    row = await fetchone(
        conn,
        "SELECT COALESCE(bool_or(kind != 'steer'), false), "
        f"COALESCE(bool_or(kind = 'steer'), false) FROM {t.inbox} WHERE thread_id = %s",
        (write.thread_id,),
    )
    written = Written(queued_input=bool(row and row[0]), steering=bool(row and row[1]))
    runnable = (write.end == "release" and written.queued_input) or (
        write.end == "pause" and write.wake_after is not None
    )
    await notify(
        conn,
        events=(write.thread_id, write.cursor.last_event_seq) if write.events else None,
        work=[write.thread_id] if runnable else (),
    )
    return written


async def acquire_lease(
    conn: Connection, t: Tables, thread_id: str, turn_id: str, owner: str, lease_seconds: float
) -> Lease | None:
    codec.check_text(owner=owner)
    # One conditional UPDATE: racing callers queue on the row lock and each re-checks the
    # condition against the winner's row, so exactly one of them gets the lease.
    row = await fetchone(
        conn,
        f"UPDATE {t.threads} SET lease_owner = %s, lease_epoch = lease_epoch + 1, "
        f"lease_expires_at = {NOW} + %s, status = 'active', wake_at = NULL "
        "WHERE thread_id = %s AND active_turn_id = %s AND "
        f"(lease_owner IS NULL OR lease_expires_at <= {NOW}) "
        "RETURNING lease_epoch, last_item_seq, last_event_seq",
        (owner, lease_seconds, thread_id, turn_id),
    )
    if row is None:
        return None
    await execute(
        conn,
        f"UPDATE {t.turns} SET status = 'running', updated_at = %s WHERE turn_id = %s",
        (time.time(), turn_id),
    )
    return Lease(
        thread_id=thread_id,
        turn_id=turn_id,
        owner=owner,
        epoch=row[0],
        cursor=ThreadCursor(last_item_seq=row[1], last_event_seq=row[2]),
    )


async def renew_leases(conn: Connection, t: Tables, owner: str, lease_seconds: float) -> Renewal:
    held = {
        thread_id: epoch
        for thread_id, epoch in await fetchall(
            conn,
            f"UPDATE {t.threads} SET lease_expires_at = {NOW} + %s WHERE lease_owner = %s "
            f"AND lease_expires_at > {NOW} RETURNING thread_id, lease_epoch",
            (lease_seconds, owner),
        )
    }
    cancel = {
        row[0]
        for row in await fetchall(
            conn,
            f"SELECT threads.thread_id FROM {t.threads} AS threads JOIN {t.turns} AS turns "
            "ON turns.turn_id = threads.active_turn_id WHERE threads.lease_owner = %s AND "
            "turns.cancel_requested = 1",
            (owner,),
        )
    }
    return Renewal(held=held, cancel_requested=cancel)


async def hand_back(conn: Connection, t: Tables, thread_id: str, epoch: int) -> bool:
    handed = (
        await execute(
            conn,
            f"UPDATE {t.threads} SET lease_owner = NULL, lease_expires_at = NULL, "
            f"wake_at = {NOW} WHERE thread_id = %s AND lease_epoch = %s AND lease_owner IS NOT NULL",
            (thread_id, epoch),
        )
        > 0
    )
    if handed:
        await notify(conn, work=[thread_id])
    return handed


async def request_cancel(conn: Connection, t: Tables, turn_id: str) -> bool:
    return (
        await execute(
            conn,
            f"UPDATE {t.turns} SET cancel_requested = 1 WHERE turn_id = %s AND status NOT IN "
            "('completed', 'failed', 'cancelled')",
            (turn_id,),
        )
        > 0
    )


async def wake(conn: Connection, t: Tables, thread_id: str) -> None:
    if await execute(
        conn,
        f"UPDATE {t.threads} SET wake_at = {NOW} WHERE thread_id = %s AND "
        "active_turn_id IS NOT NULL AND lease_owner IS NULL",
        (thread_id,),
    ):
        await notify(conn, work=[thread_id])


async def schedule_timer(conn: Connection, t: Tables, timer: TimerRecord) -> TimerRecord:
    codec.check_timer(timer)
    await _thread_row(conn, t, timer.thread_id)
    await insert(
        conn,
        f"INSERT INTO {t.timers} ({codec.TIMER_COLUMNS}) VALUES "
        f"({placeholders(codec.TIMER_COLUMNS)})",
        [codec.timer_row(timer)],
    )
    return timer
