"""The writes of turns and of the inbox, written once for every SQL store (see `_sql`).

Concurrency. SQLite runs one writer at a time; PostgreSQL runs many transactions at once. So
every operation that decides from a thread's row reads it with `{lock}` before anything else:
concurrent writes of one thread then take turns, and each sees what the previous committed.
Lease changes are single conditional UPDATEs (fences), re-checked against the latest row
version when they wait on a lock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from threadline.types import (
    Event,
    InvalidInputError,
    LeaseLost,
    TurnInProgressError,
    payload_call_id,
)

from . import _codec as codec
from . import _event_log as log
from ._compact import STATE_CODES, TOOL_CALL, code_of, dump_usage
from ._event_log import Ending, WriteContext
from ._ops_files import apply_turn_files
from ._ops_inbox import by_client_key, enqueue, schedule_timer
from ._ops_spans import write_spans
from ._ops_steps import write_steps
from ._ops_threads import (
    CursorMovedError,
    archived_check,
    status_unless_terminated,
    terminated_check,
    thread_row,
)
from ._sql import Notify, Op, Sql, count, fence, many, marks, one, run
from ._writes import (
    AppendItems,
    BeginOutcome,
    BeginTurn,
    Duplicate,
    Enqueued,
    ThreadCursor,
    ToolCallState,
    TurnStarted,
    TurnWrite,
    Written,
)

_FINISHED = ("completed", "failed", "cancelled")
_IDLE = status_unless_terminated("idle")
_AWAITING = status_unless_terminated("awaiting_input")


def begin_turn(request: BeginTurn) -> Op[BeginOutcome]:
    codec.check_text(owner=request.owner)
    codec.check_turn(request.turn)
    turn = request.turn
    expected = request.expected
    # The common case in one conditional UPDATE: the thread is idle and as the caller read it.
    # Anything else (or a client key, which may name an earlier submission) is looked at
    # closely below.
    if turn.client_key is None and (
        yield _make_active(
            request,
            "AND active_turn_id IS NULL AND status NOT IN ('archived', 'terminated') AND last_item_seq = ? "
            "AND last_event_seq = ? AND turn_count = ?",
            expected.last_item_seq,
            expected.last_event_seq,
            turn.number - 1,
        )
    ):
        return (yield from _store_turn(request))
    active_turn_id, last_item_seq, last_event_seq, turn_count, status, _, _ = yield from (
        thread_row(turn.thread_id, lock=True)
    )
    if turn.client_key is not None:
        earlier, queued = yield from by_client_key(turn.thread_id, turn.client_key)
        if earlier is not None:
            if request.inbox_entry_id is not None:
                # The queued input already ran: left queued, it would block the queue forever.
                yield run("DELETE FROM {inbox} WHERE entry_id = ?", request.inbox_entry_id)
            return Duplicate(turn=earlier, entry=None)
        if queued is not None and request.inbox_entry_id is None:
            return Duplicate(turn=None, entry=queued)
    archived_check(status, turn.thread_id)
    if active_turn_id is not None:
        if request.enqueue_if_busy and request.inbox_entry_id is None:
            entry = yield from enqueue(codec.entry_of_turn(turn), status=status)
            return Enqueued(entry=entry, active_turn_id=active_turn_id)
        raise TurnInProgressError(
            f"thread {turn.thread_id} already has an unfinished turn ({active_turn_id}); pass "
            "on_busy='enqueue' to queue the input",
            thread_id=turn.thread_id,
            active_turn_id=active_turn_id,
        )
    if (last_item_seq, last_event_seq, turn_count) != (
        expected.last_item_seq,
        expected.last_event_seq,
        turn.number - 1,
    ):
        raise CursorMovedError("the thread changed since it was read", thread_id=turn.thread_id)
    yield _make_active(request, "")
    return (yield from _store_turn(request))


def _cursor_after(request: BeginTurn) -> ThreadCursor:
    return ThreadCursor(
        last_item_seq=request.items[-1].seq if request.items else request.expected.last_item_seq,
        last_event_seq=(
            request.events[-1].seq if request.events else request.expected.last_event_seq
        ),
    )


def _make_active(request: BeginTurn, condition: str, *condition_values: Any) -> Sql:
    """The UPDATE that makes the turn the thread's active one; a fence if `condition`."""
    turn = request.turn
    cursor = _cursor_after(request)
    values: list[Any] = [turn.turn_id, cursor.last_item_seq, cursor.last_event_seq, turn.number]
    values.append(turn.created_at)
    if request.owner is None:  # stored for whichever worker claims it first
        lease = "lease_owner = NULL, lease_expires_at = NULL, wake_at = {now}"
    else:
        lease = (
            "lease_owner = ?, lease_epoch = lease_epoch + 1, lease_expires_at = {now} + ?, "
            "wake_at = NULL"
        )
        values += [request.owner, request.lease_seconds]
    statement = (fence if condition else run)(
        "UPDATE {threads} SET active_turn_id = ?, status = 'active', last_item_seq = ?, "
        f"last_event_seq = ?, turn_count = ?, updated_at = ?, {lease} WHERE thread_id = ? "
        f"{condition}",
        *values,
        turn.thread_id,
        *condition_values,
    )
    return statement


def _store_turn(request: BeginTurn) -> Op[BeginOutcome]:
    """The rest of a turn's start, once the thread is its."""
    turn = request.turn
    if request.inbox_entry_id is not None and not (
        yield fence("DELETE FROM {inbox} WHERE entry_id = ?", request.inbox_entry_id)
    ):
        raise CursorMovedError(
            "the inbox entry was taken by another turn", thread_id=turn.thread_id
        )
    holder = codec.input_item(turn, request.items)
    # The thread's key is found by the statement: the fast start of `begin_turn` reads nothing.
    values = codec.turn_row(turn, 0, None if holder is None else holder.seq)[1:]
    yield run(
        f"INSERT INTO {{turns}} ({codec.TURN_INSERT}) SELECT tkey, {marks(len(values))} "
        "FROM {threads} WHERE thread_id = ?",
        *values,
        turn.thread_id,
    )
    context = WriteContext(items=request.items, turn_id=turn.turn_id, started=turn)
    yield from insert(
        turn.thread_id, context, request.events, request.tool_states, number=turn.number
    )
    cursor = _cursor_after(request)
    yield Notify(
        events=(turn.thread_id, cursor.last_event_seq) if request.events else None,
        work=[turn.thread_id] if request.owner is None else (),
    )
    epoch, written = yield from after_write(turn.thread_id)
    return TurnStarted(
        turn=turn, cursor=cursor, items=tuple(request.items), epoch=epoch, written=written
    )


def append_items(request: AppendItems) -> Op[None]:
    active_turn_id, last_item_seq, last_event_seq, _, status, _, _ = yield from thread_row(
        request.thread_id, lock=True
    )
    terminated_check(status, request.thread_id)
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
    yield from insert(
        request.thread_id, WriteContext(items=request.items, turn_id=None), request.events
    )
    last_event = request.events[-1].seq if request.events else last_event_seq
    yield run(
        "UPDATE {threads} SET last_item_seq = ?, last_event_seq = ?, updated_at = ? "
        "WHERE thread_id = ?",
        request.items[-1].seq if request.items else last_item_seq,
        last_event,
        time.time(),
        request.thread_id,
    )
    yield Notify(events=(request.thread_id, last_event) if request.events else None)


def insert(
    thread_id: str,
    context: WriteContext,
    events: Sequence[Event],
    states: Mapping[str, ToolCallState] | None = None,
    *,
    number: int | None = None,
) -> Op[None]:
    """Store a write's items, with the state of each tool call it names, and its events, as a
    block (`_event_log`): on its first item, else in the events table. The write belongs to
    the turn `context.turn_id` (whose `number` is given, or else is the thread's latest turn),
    or to none; so does each item, except those a turn's start imports, which belong to none."""
    items = context.items
    states = states or {}
    known = number is not None or context.turn_id is None
    for item in items:
        if item.turn_id != context.turn_id and (item.turn_id is not None or not known):
            raise InvalidInputError(
                f"item {item.item_id} does not belong to the turn it is written with",
                item_id=item.item_id,
            )
    for event in events:
        codec.check_text(
            thread_id=event.thread_id, turn_id=event.turn_id, item_id=event.item_id, type=event.type
        )
    codes = {
        call_id: code_of(STATE_CODES, state, "tool call state") for call_id, state in states.items()
    }
    for call_id in codes:
        codec.check_text(tool_call_id=call_id)
    turn = "?" if known else "turn_count"  # the active turn is the thread's latest
    blocks = log.runs(events)
    on_item: tuple[int, str] | None = None
    if items and len(blocks) == 1:
        base = items[0]
        entries = log.encode(blocks[0], context, base=base.seq)
        header = base.turn_id != context.turn_id  # the turn a write starts, after imports
        on_item = blocks[0][0].seq, log.block_text(entries, number, header=header)
        blocks = []
    calls: set[str] = set()
    rows: list[tuple[Any, ...]] = []
    for item in items:
        call_id = payload_call_id(item.payload) if item.type == "tool_call" else None
        if call_id is not None:
            calls.add(call_id)
        block = on_item if item is items[0] else None
        values = codec.item_row(
            item,
            states.get(call_id) if call_id is not None else None,
            *(block if block is not None else (None, None)),
        )
        turn_params = (number if item.turn_id is not None else None,) if known else ()
        rows.append((*turn_params, *values, thread_id))
    if rows:
        yield many(
            f"INSERT INTO {{items}} (tkey, turn, {codec.ITEM_INSERT}) SELECT tkey, {turn}, "
            f"{marks(10)} FROM {{threads}} WHERE thread_id = ?",
            rows,
        )
    for block in blocks:
        entries = log.encode(block, context, base=0)
        yield run(
            f"INSERT INTO {{events}} (tkey, seq, turn, events) SELECT tkey, ?, {turn}, ? "
            "FROM {threads} WHERE thread_id = ?",
            block[0].seq,
            *((number,) if known else ()),
            log.block_text(entries),
            thread_id,
        )
    for call_id in codes:
        if call_id in calls:
            continue
        if not (
            yield fence(
                "UPDATE {items} SET tool_state = ? WHERE tkey = (SELECT tkey FROM {threads} "
                "WHERE thread_id = ?) AND type = ? AND call_id = ?",
                codes[call_id],
                thread_id,
                TOOL_CALL,
                call_id,
            )
        ):
            raise InvalidInputError(
                f"thread {thread_id} has no tool call {call_id!r} to record the state of",
                tool_call_id=call_id,
            )


_HOLDS_LEASE = (
    "thread_id = ? AND active_turn_id = ? AND lease_epoch = ? AND "
    "lease_owner IS NOT NULL AND lease_expires_at > {now}"
)


def write_turn(write: TurnWrite) -> Op[Written]:
    codec.check_text(turn_status=write.turn_status)
    now = time.time()
    assignments = "last_item_seq = ?, last_event_seq = ?, updated_at = ?"
    values: list[Any] = [write.cursor.last_item_seq, write.cursor.last_event_seq, now]
    if write.end == "release":
        assignments += (
            f", active_turn_id = NULL, status = {_IDLE}, lease_owner = NULL, "
            "lease_expires_at = NULL, wake_at = NULL"
        )
    elif write.end == "pause":
        assignments += (
            f", status = {_AWAITING}, lease_owner = NULL, lease_expires_at = NULL, wake_at = "
            + ("NULL" if write.wake_after is None else "{now} + ?")
        )
        if write.wake_after is not None:
            values.append(write.wake_after)
    if write.sets_state:
        assignments += ", state = ?"
        values.append(None if write.thread_state is None else codec.dumps(write.thread_state))
    lease = (write.thread_id, write.turn_id, write.epoch)
    where, where_values = _HOLDS_LEASE, lease
    if write.expected is not None:
        where += " AND last_item_seq = ? AND last_event_seq = ?"
        where_values += (write.expected.last_item_seq, write.expected.last_event_seq)
    if not (
        yield fence(f"UPDATE {{threads}} SET {assignments} WHERE {where}", *values, *where_values)
    ):
        if (yield one(f"SELECT 1 FROM {{threads}} WHERE {_HOLDS_LEASE}", *lease)) is not None:
            raise CursorMovedError(
                "an earlier write of this turn was not stored", thread_id=write.thread_id
            )
        raise LeaseLost(
            f"turn {write.turn_id} no longer holds the lease on thread "
            f"{write.thread_id} (epoch {write.epoch})"
        )
    for entry_id in write.consume_inbox:
        if not (yield fence("DELETE FROM {inbox} WHERE entry_id = ?", entry_id)):
            raise CursorMovedError("a steering entry was taken by another turn")
    ending = None
    if write.end == "release" and write.turn_status in _FINISHED and write.usage is not None:
        ending = Ending(status=write.turn_status, usage=write.usage, error=write.error)
    context = WriteContext(items=write.items, turn_id=write.turn_id, ending=ending)
    yield from insert(write.thread_id, context, write.events, write.tool_states)
    if write.step_records:
        yield from write_steps(write.thread_id, write.step_records)
    if write.spans:
        yield from write_spans(write.thread_id, write.spans)
    if write.timers:
        status = yield one("SELECT status FROM {threads} WHERE thread_id = ?", write.thread_id)
        if status[0] != "terminated":  # terminating dropped its timers: these lapse too
            for timer in write.timers:
                yield from schedule_timer(timer, checked=True)
    if write.files:
        yield from apply_turn_files(write.thread_id, write.files)
    yield _update_turn(write, now)
    # Steering input the turn did not take gets a turn of its own, unless the turn was
    # interrupted: then it joins the next turn the user starts.
    if write.end == "release" and write.turn_status != "cancelled":
        yield run(
            "UPDATE {inbox} SET kind = 'input' WHERE thread_id = ? AND kind = 'steer'",
            write.thread_id,
        )
    woken = (yield from _wake_parent(write.parent_id)) if write.end == "release" else []
    paused_to_wake = write.end == "pause" and write.wake_after is not None
    yield Notify(
        events=(write.thread_id, write.cursor.last_event_seq) if write.events else None,
        work=[write.thread_id, *woken] if paused_to_wake else woken,
        work_if_queued=write.thread_id if write.end == "release" else None,
    )
    _, written = yield from after_write(write.thread_id)
    return written


def _wake_parent(parent_id: str | None) -> Op[list[str]]:
    """A child thread's turn ended: its parent's paused turn, which may wait for it, is due
    to look again. Returns the thread woken, if any."""
    if parent_id is None:
        return []
    woken = yield count(
        "UPDATE {threads} SET wake_at = {now} WHERE thread_id = ? AND active_turn_id IS NOT "
        "NULL AND lease_owner IS NULL",
        parent_id,
    )
    return [parent_id] if woken else []


def after_write(thread_id: str) -> Op[tuple[int, Written]]:
    """The thread's lease epoch, and whether input waits for it, as the write this ends (its
    last statement) leaves them."""
    epoch, queued, steering = yield one(
        "SELECT lease_epoch, EXISTS (SELECT 1 FROM {inbox} WHERE thread_id = ? AND "
        "kind != 'steer'), EXISTS (SELECT 1 FROM {inbox} WHERE thread_id = ? AND "
        "kind = 'steer') FROM {threads} WHERE thread_id = ?",
        thread_id,
        thread_id,
        thread_id,
        final=True,
    )
    return epoch, Written(queued_input=bool(queued), steering=bool(steering))


def _update_turn(write: TurnWrite, now: float) -> Any:
    assignments = ["updated_at = ?"]
    values: list[Any] = [now]
    if write.turn_status is not None:
        assignments.append("status = ?")
        values.append(write.turn_status)
        if write.turn_status in _FINISHED:
            assignments.append("completed_at = ?")
            values.append(now)
    for column, value in (
        ("usage", None if write.usage is None else dump_usage(write.usage)),
        ("steps", write.steps),
        ("running_seconds", write.running_seconds),
        ("error", None if write.error is None else codec.dumps(write.error)),
        ("options", None if write.options is None else codec.dumps(write.options)),
    ):
        if value is not None:
            assignments.append(f"{column} = ?")
            values.append(value)
    return run(
        f"UPDATE {{turns}} SET {', '.join(assignments)} WHERE turn_id = ?",
        *values,
        codec.turn_key(write.turn_id),
    )
