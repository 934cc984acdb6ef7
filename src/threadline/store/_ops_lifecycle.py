"""Ending a thread for good (see `_sql`): after `terminate_thread` the store refuses every input
to it, in the same transaction as each input's own checks, so no race slips one in."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from threadline.types import Event, Item

from . import _codec as codec
from ._event_log import WriteContext
from ._ops_threads import CursorMovedError, thread_row
from ._ops_turns import insert
from ._sql import Notify, Op, one, run
from ._writes import ThreadCursor

TERMINATED_CODE = "thread_terminated"  # the `error` code of a turn that termination ended


@dataclass(frozen=True, kw_only=True, slots=True)
class Terminate:
    """End a thread for good, in one transaction: its status becomes "terminated" (the store
    refuses every later input), its inbox is emptied and its pending timers are cancelled.

    If the thread has an unfinished turn, the turn keeps the reason as its `error` (code
    `thread_terminated`) and, with `cancel_turn`, is asked to stop like an interrupt (a paused
    one is woken for recovery to end); ending it records the reason. Otherwise `items` (the
    item that records the reason) and their `events` are stored after the thread's last item,
    unless the thread holds an item with the first one's id already; then `expected` must equal
    the thread's cursor. Terminating a terminated thread changes nothing but those two things.
    """

    thread_id: str
    reason: str
    expected: ThreadCursor
    items: Sequence[Item] = ()
    events: Sequence[Event] = ()
    cancel_turn: bool = True  # False: the turn's own code asked, and ends the turn itself


@dataclass(frozen=True, kw_only=True, slots=True)
class Terminated:
    active_turn_id: str | None  # the unfinished turn that still has to end, if any
    stored: bool  # this write stored the item that records the reason


def terminate_thread(request: Terminate) -> Op[Terminated]:
    codec.check_text(reason=request.reason)
    thread_id = request.thread_id
    active_turn_id, last_item_seq, last_event_seq, turn_count, status, _, tkey = yield from (
        thread_row(thread_id, lock=True)
    )
    now = time.time()
    first = status != "terminated"
    if first:
        yield run(
            "UPDATE {threads} SET status = 'terminated', updated_at = ? WHERE thread_id = ?",
            now,
            thread_id,
        )
        yield run("DELETE FROM {inbox} WHERE thread_id = ?", thread_id)
        yield run(
            "UPDATE {timers} SET status = 'cancelled' WHERE thread_id = ? AND status = 'pending'",
            thread_id,
        )
    if active_turn_id is not None:
        if first:
            # The thread's active turn is its latest one.
            yield run(
                "UPDATE {turns} SET error = ? WHERE tkey = ? AND number = ?",
                codec.dumps({"code": TERMINATED_CODE, "message": request.reason}),
                tkey,
                turn_count,
            )
        if request.cancel_turn:
            yield run(
                "UPDATE {turns} SET cancel_requested = 1 WHERE tkey = ? AND number = ?",
                tkey,
                turn_count,
            )
            yield run(
                "UPDATE {threads} SET wake_at = {now} WHERE thread_id = ? AND lease_owner IS NULL",
                thread_id,
            )
            yield Notify(work=[thread_id])
        return Terminated(active_turn_id=active_turn_id, stored=False)
    if not request.items:
        return Terminated(active_turn_id=None, stored=False)
    stored = yield one(
        "SELECT 1 FROM {items} WHERE tkey = ? AND item_id = ?",
        tkey,
        codec.item_key(request.items[0].item_id),
    )
    if stored is not None:
        return Terminated(active_turn_id=None, stored=False)
    expected = request.expected
    if (last_item_seq, last_event_seq) != (expected.last_item_seq, expected.last_event_seq):
        raise CursorMovedError("the thread changed since it was read", thread_id=thread_id)
    yield from insert(thread_id, WriteContext(items=request.items, turn_id=None), request.events)
    last_event = request.events[-1].seq if request.events else last_event_seq
    yield run(
        "UPDATE {threads} SET last_item_seq = ?, last_event_seq = ? WHERE thread_id = ?",
        request.items[-1].seq,
        last_event,
        thread_id,
    )
    yield Notify(events=(thread_id, last_event) if request.events else None)
    return Terminated(active_turn_id=None, stored=True)
