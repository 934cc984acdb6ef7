"""The store's side of terminating a thread: one transaction that closes the thread, and the
refusal of every later input in the input's own transaction."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from test_contract import OWNER, begin, noop, started_turn, thread_record

from threadline.store import (
    AppendItems,
    CursorMovedError,
    Store,
    Terminate,
    ThreadCursor,
    ThreadUpdate,
    TurnStarted,
)
from threadline.types import (
    TERMINATED_PHASE,
    Event,
    InboxEntry,
    Item,
    SystemEvent,
    TextPart,
    ThreadRecord,
    ThreadTerminatedError,
    TimerRecord,
    UserMessage,
    new_id,
)


def reason_item(thread: ThreadRecord, seq: int, item_id: str | None = None) -> Item:
    return Item(
        item_id=item_id or new_id("item"),
        thread_id=thread.thread_id,
        turn_id=None,
        seq=seq,
        status="completed",
        payload=SystemEvent(phase=TERMINATED_PHASE, message="closed", data={}),
        created_at=time.time(),
    )


def completed_event(item: Item, seq: int) -> Event:
    return Event(
        type="item_completed",
        thread_id=item.thread_id,
        turn_id=None,
        item_id=item.item_id,
        seq=seq,
        params={},
    )


def timer(thread: ThreadRecord, delay: float = 600) -> TimerRecord:
    now = time.time()
    return TimerRecord(
        timer_id=new_id("timer"),
        thread_id=thread.thread_id,
        due_at=now + delay,
        kind="input",
        input=[{"type": "text", "text": "later"}],
        created_at=now,
    )


def entry(thread: ThreadRecord, kind: str = "input", client_key: str | None = None) -> InboxEntry:
    return InboxEntry(
        entry_id=new_id("inbox"),
        thread_id=thread.thread_id,
        position=0,
        input=[{"type": "text", "text": "queued"}],
        client_key=client_key,
        created_at=time.time(),
        kind=kind,  # type: ignore[arg-type]
    )


async def assert_refuses_input(store: Store, thread: ThreadRecord) -> None:
    before = await store.get_thread(thread.thread_id)
    assert before is not None
    number, seq = before.turn_count + 1, before.last_item_seq
    attempts = [
        lambda: store.begin_turn(
            begin(thread, number=number, item_seq=seq, event_seq=before.last_event_seq)
        ),
        lambda: store.begin_turn(
            begin(
                thread,
                number=number,
                item_seq=seq,
                event_seq=before.last_event_seq,
                client_key="k",
                enqueue_if_busy=True,
            )
        ),
        lambda: store.enqueue(entry(thread)),
        lambda: store.enqueue(entry(thread, "steer", client_key="s")),
        lambda: store.schedule_timer(timer(thread)),
        lambda: store.append_items(
            AppendItems(
                thread_id=thread.thread_id,
                expected=ThreadCursor(last_item_seq=seq, last_event_seq=before.last_event_seq),
                items=[
                    Item(
                        item_id=new_id("item"),
                        thread_id=thread.thread_id,
                        turn_id=None,
                        seq=seq + 1,
                        status="completed",
                        payload=UserMessage(content=(TextPart(text="x"),)),
                        created_at=time.time(),
                    )
                ],
            )
        ),
        lambda: store.update_thread(thread.thread_id, ThreadUpdate(status="idle")),
        lambda: store.update_thread(thread.thread_id, ThreadUpdate(status="archived")),
    ]
    for attempt in attempts:
        with pytest.raises(ThreadTerminatedError):
            await attempt()
    after = await store.get_thread(thread.thread_id)
    assert after is not None
    assert replace(after, updated_at=0) == replace(before, updated_at=0)
    assert await store.list_inbox(thread.thread_id) == []
    assert await store.list_timers(thread.thread_id) == []


async def test_terminating_an_idle_thread_closes_it_in_one_write(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    scheduled = await store.schedule_timer(timer(thread))
    await store.enqueue(entry(thread))  # nobody runs it here: it stays queued
    item = reason_item(thread, 1)
    request = Terminate(
        thread_id=thread.thread_id,
        reason="closed",
        expected=ThreadCursor(last_item_seq=0, last_event_seq=0),
        items=[item],
        events=[completed_event(item, 1)],
    )

    done = await store.terminate_thread(request)

    assert (done.active_turn_id, done.stored) == (None, True)
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None
    assert (stored.status, stored.last_item_seq, stored.last_event_seq) == ("terminated", 1, 1)
    assert await store.load_items(thread.thread_id) == [item]
    assert [e.item_id for e in await store.load_events(thread.thread_id)] == [item.item_id]
    assert await store.list_inbox(thread.thread_id) == []
    assert [
        (t.timer_id, t.status)
        for t in await store.list_timers(thread.thread_id, pending_only=False)
    ] == [(scheduled.timer_id, "cancelled")]
    # A repeat (a retry after an unknown commit) finds its item and writes nothing.
    again = await store.terminate_thread(request)
    assert (again.active_turn_id, again.stored) == (None, False)
    assert len(await store.load_items(thread.thread_id)) == 1
    await assert_refuses_input(store, thread)
    # What is not input still works, and deleting takes everything.
    await store.update_thread(thread.thread_id, ThreadUpdate(metadata={"note": "closed"}))
    assert await store.delete_thread(thread.thread_id) is True


async def test_the_reason_is_written_after_the_threads_last_item_or_refused(
    store: Store,
) -> None:
    thread = await store.create_thread(thread_record())
    item = reason_item(thread, 1)
    stale = Terminate(
        thread_id=thread.thread_id,
        reason="closed",
        expected=ThreadCursor(last_item_seq=3, last_event_seq=3),
        items=[item],
        events=[completed_event(item, 1)],
    )

    with pytest.raises(CursorMovedError):
        await store.terminate_thread(stale)

    stored = await store.get_thread(thread.thread_id)
    assert stored is not None and stored.status == "idle"


async def test_an_unfinished_turn_is_asked_to_stop_and_its_ending_keeps_the_status(
    store: Store,
) -> None:
    thread, started = await started_turn(store)
    await store.enqueue(entry(thread))  # queued behind the turn
    await store.enqueue(entry(thread, "steer"))
    item = reason_item(thread, 2)

    done = await store.terminate_thread(
        Terminate(
            thread_id=thread.thread_id,
            reason="closed",
            expected=started.cursor,
            items=[item],
            events=[completed_event(item, 2)],
        )
    )

    assert (done.active_turn_id, done.stored) == (started.turn.turn_id, False)
    turn = await store.get_turn(started.turn.turn_id)
    assert turn is not None
    assert turn.cancel_requested
    assert turn.error == {"code": "thread_terminated", "message": "closed"}
    renewal = await store.renew_leases(OWNER, 30)
    assert renewal.cancel_requested == {thread.thread_id}
    assert await store.list_inbox(thread.thread_id) == []
    assert len(await store.load_items(thread.thread_id)) == 1  # the turn's ending records it
    await assert_refuses_input(store, thread)

    # The turn's own writes go on; timers it stores lapse; ending it keeps "terminated".
    await store.write_turn(noop(thread, started, started.epoch, timers=[timer(thread)]))
    await store.write_turn(
        noop(thread, started, started.epoch, turn_status="cancelled", end="release")
    )
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None
    assert (stored.status, stored.active_turn_id) == ("terminated", None)
    assert await store.list_timers(thread.thread_id) == []
    await assert_refuses_input(store, thread)


async def test_a_turn_that_asked_itself_is_not_asked_to_stop(store: Store) -> None:
    thread, started = await started_turn(store, lease_seconds=0.2)

    await store.terminate_thread(
        Terminate(
            thread_id=thread.thread_id,
            reason="done",
            expected=started.cursor,
            cancel_turn=False,
        )
    )

    turn = await store.get_turn(started.turn.turn_id)
    assert turn is not None and not turn.cancel_requested
    assert turn.error == {"code": "thread_terminated", "message": "done"}
    # A turn that lost its owner is claimed again without reopening the thread.
    await asyncio.sleep(0.3)
    (lease,) = await store.claim_turns("proc_b", lease_seconds=30)
    assert lease.turn_id == started.turn.turn_id
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None and stored.status == "terminated"
    await store.write_turn(noop(thread, started, lease.epoch, turn_status="cancelled", end="pause"))
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None and stored.status == "terminated"


async def test_steering_input_for_a_thread_without_a_turn_starts_one(store: Store) -> None:
    thread = await store.create_thread(thread_record())

    queued = await store.enqueue(entry(thread, "steer"))

    assert queued.kind == "input"
    assert [e.kind for e in await store.list_inbox(thread.thread_id)] == ["input"]
    _, started = await started_turn(store)
    assert isinstance(started, TurnStarted)
    steering = await store.enqueue(entry(await _thread_of(store, started), "steer"))
    assert steering.kind == "steer"


async def _thread_of(store: Store, started: TurnStarted) -> ThreadRecord:
    record = await store.get_thread(started.turn.thread_id)
    assert record is not None
    return record
