"""The write transactions of the SQLite store, as functions of a connection. Each runs inside
the writer's transaction; raising rolls back just that write."""

from __future__ import annotations

import sqlite3
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
    StoreError,
    TimerRecord,
    TurnInProgressError,
)

from . import _codec as codec
from ._sqlite_reads import select, select_one
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

# Lease arithmetic uses the database's clock, never the caller's.
NOW = "((julianday('now') - 2440587.5) * 86400.0)"


class CursorMovedError(StoreError):
    """The thread changed between the caller's read and its write; read again and retry."""

    code = "cursor_moved"


def db_now(conn: sqlite3.Connection) -> float:
    return float(conn.execute(f"SELECT {NOW}").fetchone()[0])


def _thread_row(conn: sqlite3.Connection, thread_id: str) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT active_turn_id, last_item_seq, last_event_seq, turn_count, status "
        "FROM threads WHERE thread_id = ?",
        (thread_id,),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    return row


def enqueue(conn: sqlite3.Connection, entry: InboxEntry) -> InboxEntry:
    codec.check_inbox(entry)
    if entry.client_key is not None:
        existing = select_one(
            conn,
            f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? AND client_key = ?",
            (entry.thread_id, entry.client_key),
            codec.inbox_from_row,
        )
        if existing is not None:
            return existing
        ran = select_one(
            conn,
            f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE thread_id = ? AND client_key = ?",
            (entry.thread_id, entry.client_key),
            codec.turn_from_row,
        )
        if ran is not None:
            return codec.entry_of_turn(ran)
    status = _thread_row(conn, entry.thread_id)[4]
    if status == "archived":
        raise InvalidInputError(
            "the thread is archived: unarchive it or start a new thread", thread_id=entry.thread_id
        )
    position = conn.execute(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM inbox WHERE thread_id = ?", (entry.thread_id,)
    ).fetchone()[0]
    stored = InboxEntry(
        entry_id=entry.entry_id,
        thread_id=entry.thread_id,
        position=position,
        input=entry.input,
        sender=entry.sender,
        client_key=entry.client_key,
        created_at=entry.created_at,
        kind=entry.kind,
    )
    conn.execute(
        f"INSERT INTO inbox ({codec.INBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        codec.inbox_row(stored),
    )
    return stored


def begin_turn(conn: sqlite3.Connection, request: BeginTurn) -> BeginOutcome:
    codec.check_text(owner=request.owner)
    codec.check_turn(request.turn)
    turn = request.turn
    if turn.client_key is not None:
        earlier = select_one(
            conn,
            f"SELECT {codec.TURN_COLUMNS} FROM turns WHERE thread_id = ? AND client_key = ?",
            (turn.thread_id, turn.client_key),
            codec.turn_from_row,
        )
        if earlier is not None:
            if request.inbox_entry_id is not None:
                # The queued input already ran: left queued, it would block the queue forever.
                conn.execute("DELETE FROM inbox WHERE entry_id = ?", (request.inbox_entry_id,))
            return Duplicate(turn=earlier, entry=None)
        if request.inbox_entry_id is None:
            queued = select_one(
                conn,
                f"SELECT {codec.INBOX_COLUMNS} FROM inbox WHERE thread_id = ? AND client_key = ?",
                (turn.thread_id, turn.client_key),
                codec.inbox_from_row,
            )
            if queued is not None:
                return Duplicate(turn=None, entry=queued)
    active_turn_id, last_item_seq, last_event_seq, turn_count, status = _thread_row(
        conn, turn.thread_id
    )
    if status == "archived":
        raise InvalidInputError(
            "the thread is archived: unarchive it or start a new thread", thread_id=turn.thread_id
        )
    if active_turn_id is not None:
        if request.enqueue_if_busy and request.inbox_entry_id is None:
            entry = enqueue(
                conn,
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
        and conn.execute("DELETE FROM inbox WHERE entry_id = ?", (request.inbox_entry_id,)).rowcount
        == 0
    ):
        raise CursorMovedError(
            "the inbox entry was taken by another turn", thread_id=turn.thread_id
        )
    conn.execute(
        f"INSERT INTO turns ({codec.TURN_COLUMNS}) VALUES ({codec.TURN_PLACEHOLDERS})",
        codec.turn_row(turn),
    )
    insert(conn, request.items, request.events)
    _set_tool_states(conn, turn.thread_id, turn.turn_id, 0, request.tool_states)
    cursor = ThreadCursor(
        last_item_seq=request.items[-1].seq if request.items else last_item_seq,
        last_event_seq=request.events[-1].seq if request.events else last_event_seq,
    )
    if request.owner is None:  # stored for whichever worker claims it first
        lease = f"lease_owner = NULL, lease_expires_at = NULL, wake_at = {NOW}"
        lease_values: tuple[Any, ...] = ()
    else:
        lease = (
            f"lease_owner = ?, lease_epoch = lease_epoch + 1, "
            f"lease_expires_at = {NOW} + ?, wake_at = NULL"
        )
        lease_values = (request.owner, request.lease_seconds)
    epoch = conn.execute(
        "UPDATE threads SET active_turn_id = ?, status = 'active', last_item_seq = ?, "
        f"last_event_seq = ?, turn_count = ?, updated_at = ?, {lease} "
        "WHERE thread_id = ? RETURNING lease_epoch",
        (
            turn.turn_id,
            cursor.last_item_seq,
            cursor.last_event_seq,
            turn.number,
            turn.created_at,
            *lease_values,
            turn.thread_id,
        ),
    ).fetchone()[0]
    return TurnStarted(turn=turn, cursor=cursor, items=tuple(request.items), epoch=epoch)


def append_items(conn: sqlite3.Connection, request: AppendItems) -> None:
    active_turn_id, last_item_seq, last_event_seq, _, status = _thread_row(conn, request.thread_id)
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
    insert(conn, request.items, request.events)
    conn.execute(
        "UPDATE threads SET last_item_seq = ?, last_event_seq = ?, updated_at = ? "
        "WHERE thread_id = ?",
        (
            request.items[-1].seq if request.items else last_item_seq,
            request.events[-1].seq if request.events else last_event_seq,
            time.time(),
            request.thread_id,
        ),
    )


def insert(conn: sqlite3.Connection, items: Sequence[Item], events: Sequence[Event]) -> None:
    if items:
        conn.executemany(
            f"INSERT INTO items ({codec.ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [codec.item_row(i) for i in items],
        )
    if events:
        now = time.time()
        conn.executemany(
            f"INSERT INTO events ({codec.EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [codec.event_row(e, now) for e in events],
        )


def _set_tool_states(
    conn: sqlite3.Connection,
    thread_id: str,
    turn_id: str,
    epoch: int,
    states: Mapping[str, ToolCallState],
) -> None:
    if states:
        for call_id, state in states.items():
            codec.check_text(tool_call_id=call_id, tool_state=state)
        now = time.time()
        conn.executemany(
            "INSERT INTO tool_calls (thread_id, tool_call_id, turn_id, state, epoch, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id, tool_call_id) DO UPDATE SET "
            "state = excluded.state, epoch = excluded.epoch, updated_at = excluded.updated_at",
            [(thread_id, call_id, turn_id, state, epoch, now) for call_id, state in states.items()],
        )


def write_turn(conn: sqlite3.Connection, write: TurnWrite) -> Written:
    codec.check_text(turn_status=write.turn_status)
    now = time.time()
    assignments = "last_item_seq = ?, last_event_seq = ?, updated_at = ?"
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
            + ("NULL" if write.wake_after is None else f"{NOW} + ?")
        )
        if write.wake_after is not None:
            values.append(write.wake_after)
    if write.sets_state:
        assignments += ", state = ?"
        values.append(None if write.thread_state is None else codec.dumps(write.thread_state))
    lease = (
        f"thread_id = ? AND active_turn_id = ? AND lease_epoch = ? AND "
        f"lease_owner IS NOT NULL AND lease_expires_at > {NOW}"
    )
    lease_values = (write.thread_id, write.turn_id, write.epoch)
    where, where_values = lease, lease_values
    if write.expected is not None:
        where += " AND last_item_seq = ? AND last_event_seq = ?"
        where_values += (write.expected.last_item_seq, write.expected.last_event_seq)
    if (
        conn.execute(
            f"UPDATE threads SET {assignments} WHERE {where}", (*values, *where_values)
        ).rowcount
        == 0
    ):
        if conn.execute(f"SELECT 1 FROM threads WHERE {lease}", lease_values).fetchone():
            raise CursorMovedError(
                "an earlier write of this turn was not stored", thread_id=write.thread_id
            )
        raise LeaseLost(
            f"turn {write.turn_id} no longer holds the lease on thread "
            f"{write.thread_id} (epoch {write.epoch})"
        )
    if write.consume_inbox:
        for entry_id in write.consume_inbox:
            if conn.execute("DELETE FROM inbox WHERE entry_id = ?", (entry_id,)).rowcount == 0:
                raise CursorMovedError("a steering entry was taken by another turn")
    insert(conn, write.items, write.events)
    _set_tool_states(conn, write.thread_id, write.turn_id, write.epoch, write.tool_states)
    for timer in write.timers:
        schedule_timer(conn, timer)
    turn_assignments = ["updated_at = ?"]
    turn_values: list[Any] = [now]
    if write.turn_status is not None:
        turn_assignments.append("status = ?")
        turn_values.append(write.turn_status)
        if write.turn_status in ("completed", "failed", "cancelled"):
            turn_assignments.append("completed_at = ?")
            turn_values.append(now)
    if write.usage is not None:
        turn_assignments.append("usage = ?")
        turn_values.append(codec.dumps(write.usage.to_dict()))
    if write.steps is not None:
        turn_assignments.append("steps = ?")
        turn_values.append(write.steps)
    if write.running_seconds is not None:
        turn_assignments.append("running_seconds = ?")
        turn_values.append(write.running_seconds)
    if write.error is not None:
        turn_assignments.append("error = ?")
        turn_values.append(codec.dumps(write.error))
    if write.options is not None:
        turn_assignments.append("options = ?")
        turn_values.append(codec.dumps(write.options))
    conn.execute(
        f"UPDATE turns SET {', '.join(turn_assignments)} WHERE turn_id = ?",
        (*turn_values, write.turn_id),
    )
    # Steering input the turn did not take gets a turn of its own, unless the turn was
    # interrupted: then it joins the next turn the user starts.
    if write.end == "release" and write.turn_status != "cancelled":
        conn.execute(
            "UPDATE inbox SET kind = 'input' WHERE thread_id = ? AND kind = 'steer'",
            (write.thread_id,),
        )
    queued, steering = conn.execute(
        "SELECT COALESCE(SUM(kind != 'steer'), 0), COALESCE(SUM(kind = 'steer'), 0) "
        "FROM inbox WHERE thread_id = ?",
        (write.thread_id,),
    ).fetchone()
    return Written(queued_input=queued > 0, steering=steering > 0)


def acquire_lease(
    conn: sqlite3.Connection, thread_id: str, turn_id: str, owner: str, lease_seconds: float
) -> Lease | None:
    codec.check_text(owner=owner)
    row = conn.execute(
        f"UPDATE threads SET lease_owner = ?, lease_epoch = lease_epoch + 1, "
        f"lease_expires_at = {NOW} + ?, status = 'active', wake_at = NULL "
        "WHERE thread_id = ? AND active_turn_id = ? AND "
        f"(lease_owner IS NULL OR lease_expires_at <= {NOW}) "
        "RETURNING lease_epoch, last_item_seq, last_event_seq",
        (owner, lease_seconds, thread_id, turn_id),
    ).fetchone()
    if row is None:
        return None
    conn.execute(
        "UPDATE turns SET status = 'running', updated_at = ? WHERE turn_id = ?",
        (time.time(), turn_id),
    )
    return Lease(
        thread_id=thread_id,
        turn_id=turn_id,
        owner=owner,
        epoch=row[0],
        cursor=ThreadCursor(last_item_seq=row[1], last_event_seq=row[2]),
    )


def renew_leases(conn: sqlite3.Connection, owner: str, lease_seconds: float) -> Renewal:
    held = {
        thread_id: epoch
        for thread_id, epoch in conn.execute(
            f"UPDATE threads SET lease_expires_at = {NOW} + ? WHERE lease_owner = ? AND "
            f"lease_expires_at > {NOW} RETURNING thread_id, lease_epoch",
            (lease_seconds, owner),
        )
    }
    cancel = {
        row[0]
        for row in conn.execute(
            "SELECT threads.thread_id FROM threads JOIN turns ON turns.turn_id = "
            "threads.active_turn_id WHERE threads.lease_owner = ? AND turns.cancel_requested = 1",
            (owner,),
        )
    }
    return Renewal(held=held, cancel_requested=cancel)


def hand_back(conn: sqlite3.Connection, thread_id: str, epoch: int) -> bool:
    """Give up a lease so that recovery continues the turn at once."""
    return (
        conn.execute(
            f"UPDATE threads SET lease_owner = NULL, lease_expires_at = NULL, wake_at = {NOW} "
            "WHERE thread_id = ? AND lease_epoch = ? AND lease_owner IS NOT NULL",
            (thread_id, epoch),
        ).rowcount
        > 0
    )


def request_cancel(conn: sqlite3.Connection, turn_id: str) -> bool:
    return (
        conn.execute(
            "UPDATE turns SET cancel_requested = 1 WHERE turn_id = ? AND status NOT IN "
            "('completed', 'failed', 'cancelled')",
            (turn_id,),
        ).rowcount
        > 0
    )


def wake(conn: sqlite3.Connection, thread_id: str) -> None:
    conn.execute(
        f"UPDATE threads SET wake_at = {NOW} WHERE thread_id = ? AND "
        "active_turn_id IS NOT NULL AND lease_owner IS NULL",
        (thread_id,),
    )


def schedule_timer(conn: sqlite3.Connection, timer: TimerRecord) -> TimerRecord:
    codec.check_timer(timer)
    _thread_row(conn, timer.thread_id)
    conn.execute(
        f"INSERT INTO timers ({codec.TIMER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        codec.timer_row(timer),
    )
    return timer


def cancel_timer(conn: sqlite3.Connection, thread_id: str, timer_id: str) -> bool:
    return (
        conn.execute(
            "UPDATE timers SET status = 'cancelled' WHERE thread_id = ? AND timer_id = ? "
            "AND status = 'pending'",
            (thread_id, timer_id),
        ).rowcount
        > 0
    )


def fire_due_timers(conn: sqlite3.Connection, limit: int) -> list[TimerRecord]:
    """Move every due timer's effect into its thread's inbox; each fires exactly once because
    marking it fired and enqueueing its effect are one transaction."""
    due = select(
        conn,
        f"SELECT {codec.TIMER_COLUMNS} FROM timers WHERE status = 'pending' AND due_at <= {NOW} "
        "ORDER BY due_at LIMIT ?",
        (limit,),
        codec.timer_from_row,
    )
    fired: list[TimerRecord] = []
    now = time.time()
    for timer in due:
        thread = conn.execute(
            "SELECT status FROM threads WHERE thread_id = ?", (timer.thread_id,)
        ).fetchone()
        # A thread that is gone or archived takes no input: its timers lapse.
        lapsed = thread is None or thread[0] == "archived"
        conn.execute(
            "UPDATE timers SET status = ?, fired_at = ? WHERE timer_id = ?",
            ("cancelled" if lapsed else "fired", now, timer.timer_id),
        )
        if lapsed:
            continue
        enqueue(
            conn,
            InboxEntry(
                entry_id=timer.timer_id.replace("timer_", "inbox_", 1),
                thread_id=timer.thread_id,
                position=0,
                input=timer.input,
                kind=timer.kind,
                created_at=now,
            ),
        )
        fired.append(timer)
    return fired
