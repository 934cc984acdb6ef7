"""The inbox and timers: input that waits for its turn, written once for every SQL store (see
`_sql`)."""

from __future__ import annotations

import time
from typing import Any

from threadline.types import InboxEntry, TimerRecord

from . import _codec as codec
from ._ops_threads import archived_check, terminated_check, thread_row
from ._sql import Notify, Op, count, marks, one, rows, run


def by_client_key(thread_id: str, client_key: str) -> Op[tuple[Any, Any]]:
    """The turn, or else the inbox entry, that a client key already made on the thread."""
    turn = yield one(
        f"SELECT {codec.TURN_COLUMNS} FROM {codec.TURNS} WHERE th.thread_id = ? AND "
        "t.client_key = ?",
        thread_id,
        client_key,
        decode=codec.turn_from_row,
    )
    if turn is not None:
        return turn, None
    entry = yield one(
        f"SELECT {codec.INBOX_COLUMNS} FROM {{inbox}} WHERE thread_id = ? AND client_key = ?",
        thread_id,
        client_key,
        decode=codec.inbox_from_row,
    )
    return None, entry


def enqueue(entry: InboxEntry, *, status: str | None = None) -> Op[InboxEntry]:
    """`status`: the thread's, when the caller has read (and locked) its row already.

    An entry that would steer the running turn is queued as input of its own when the thread
    has no unfinished turn (the turn ended since the caller looked): it starts a turn."""
    codec.check_inbox(entry)
    kind = entry.kind
    if status is None:
        row = yield from thread_row(entry.thread_id, lock=True)
        status = str(row[4])
        if kind == "steer" and row[0] is None:
            kind = "input"
    if entry.client_key is not None:
        turn, queued = yield from by_client_key(entry.thread_id, entry.client_key)
        if queued is not None:
            return queued
        if turn is not None:
            return codec.entry_of_turn(turn)
    archived_check(status, entry.thread_id)
    position = yield one(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM {inbox} WHERE thread_id = ?", entry.thread_id
    )
    stored = InboxEntry(
        entry_id=entry.entry_id,
        thread_id=entry.thread_id,
        position=position[0],
        input=entry.input,
        sender=entry.sender,
        client_key=entry.client_key,
        created_at=entry.created_at,
        kind=kind,
    )
    yield run(
        f"INSERT INTO {{inbox}} ({codec.INBOX_COLUMNS}) VALUES ({marks(8)})",
        *codec.inbox_row(stored),
    )
    yield Notify(work=[entry.thread_id])
    return stored


def schedule_timer(timer: TimerRecord, *, checked: bool = False) -> Op[TimerRecord]:
    """`checked`: the caller holds the thread's row and knows that it takes input."""
    codec.check_timer(timer)
    if not checked:
        row = yield from thread_row(timer.thread_id, lock=True)
        terminated_check(str(row[4]), timer.thread_id)
    yield run(
        f"INSERT INTO {{timers}} ({codec.TIMER_COLUMNS}) VALUES ({marks(8)})",
        *codec.timer_row(timer),
    )
    return timer


def cancel_timer(thread_id: str, timer_id: str) -> Op[bool]:
    return bool(
        (
            yield count(
                "UPDATE {timers} SET status = 'cancelled' WHERE thread_id = ? AND timer_id = ? "
                "AND status = 'pending'",
                thread_id,
                timer_id,
            )
        )
    )


def fire_due_timers(limit: int) -> Op[list[TimerRecord]]:
    """Move every due timer's effect into its thread's inbox. Each fires exactly once: claiming
    skips timers another transaction holds, and marking one fired and enqueueing its effect
    commit together."""
    due: list[TimerRecord] = yield rows(
        f"SELECT {codec.TIMER_COLUMNS} FROM {{timers}} WHERE status = 'pending' AND "
        "due_at <= {now} ORDER BY due_at LIMIT ? {skip_locked}",
        limit,
        decode=codec.timer_from_row,
    )
    if not due:
        return []
    # Enqueueing locks each thread row; taking them all first, in one order, keeps two
    # processes firing timers of the same threads from deadlocking.
    thread_ids = sorted({timer.thread_id for timer in due})
    statuses = yield rows(
        f"SELECT thread_id, status FROM {{threads}} WHERE thread_id IN ({marks(len(thread_ids))}) "
        "ORDER BY thread_id {lock}",
        *thread_ids,
    )
    # A thread that is gone, archived or terminated takes no input: its timers lapse.
    open_threads = {
        thread_id: status
        for thread_id, status in statuses
        if status not in ("archived", "terminated")
    }
    fired: list[TimerRecord] = []
    now = time.time()
    for timer in due:
        status = open_threads.get(timer.thread_id)
        yield run(
            "UPDATE {timers} SET status = ?, fired_at = ? WHERE timer_id = ?",
            "cancelled" if status is None else "fired",
            now,
            timer.timer_id,
        )
        if status is None:
            continue
        yield from enqueue(
            InboxEntry(
                entry_id=timer.timer_id.replace("timer_", "inbox_", 1),
                thread_id=timer.thread_id,
                position=0,
                input=timer.input,
                kind=timer.kind,
                created_at=now,
            ),
            status=status,
        )
        fired.append(timer)
    return fired
