"""What every `Store` must do with leases, claims and the order of a turn's writes. Written
against the protocol only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest
from test_contract import OWNER, begin, noop, started_turn, thread_record

from threadline.store import (
    Store,
    ThreadCursor,
    TurnStarted,
    TurnWrite,
)
from threadline.types import (
    AgentMessage,
    InboxEntry,
    Item,
    LeaseLost,
    TurnInProgressError,
    new_id,
)


async def test_a_held_lease_cannot_be_taken_and_a_stale_epoch_cannot_write(store: Store) -> None:
    thread, started = await started_turn(store, lease_seconds=0.2)
    assert (
        await store.acquire_lease(
            thread.thread_id, started.turn.turn_id, owner="proc_b", lease_seconds=30
        )
        is None
    )
    await asyncio.sleep(0.3)  # let the lease expire in database time

    taken = await store.acquire_lease(
        thread.thread_id, started.turn.turn_id, owner="proc_b", lease_seconds=30
    )

    assert taken is not None
    assert taken.epoch == started.epoch + 1
    assert taken.cursor == started.cursor
    with pytest.raises(LeaseLost):
        await store.write_turn(noop(thread, started, started.epoch))
    await store.write_turn(noop(thread, started, taken.epoch))


async def test_an_expired_owner_cannot_write_even_if_nobody_took_over(store: Store) -> None:
    thread, started = await started_turn(store, lease_seconds=0.2)
    await asyncio.sleep(0.3)
    with pytest.raises(LeaseLost):
        await store.write_turn(noop(thread, started, started.epoch))


async def test_renewal_keeps_a_lease_and_reports_cancel_requests(store: Store) -> None:
    thread, started = await started_turn(store, lease_seconds=0.3)
    renewal = await store.renew_leases(OWNER, 30)
    assert renewal.held == {thread.thread_id: started.epoch}
    assert renewal.cancel_requested == set()
    await asyncio.sleep(0.4)
    await store.write_turn(noop(thread, started, started.epoch))  # still held
    assert await store.request_cancel(started.turn.turn_id) is True
    assert (await store.renew_leases(OWNER, 30)).cancel_requested == {thread.thread_id}
    assert (await store.renew_leases("proc_other", 30)).held == {}


async def test_pause_keeps_the_thread_but_frees_the_lease(store: Store) -> None:
    thread, started = await started_turn(store)
    await store.write_turn(
        noop(thread, started, started.epoch, end="pause", turn_status="awaiting_approval")
    )
    paused = await store.get_thread(thread.thread_id)
    assert paused is not None
    assert (paused.active_turn_id, paused.lease_owner, paused.status) == (
        started.turn.turn_id,
        None,
        "awaiting_input",
    )
    with pytest.raises(TurnInProgressError):
        await store.begin_turn(begin(thread, number=2, item_seq=1, event_seq=1))
    again = await store.acquire_lease(
        thread.thread_id, started.turn.turn_id, owner="proc_b", lease_seconds=30
    )
    assert again is not None
    assert again.epoch == started.epoch + 1


async def test_work_is_found_for_expired_leases_wakes_and_queued_input(store: Store) -> None:
    expired, expired_turn = await started_turn(store, lease_seconds=0.1)
    handed, handed_turn = await started_turn(store)
    assert await store.hand_back(handed.thread_id, handed_turn.epoch) is True
    idle = await store.create_thread(thread_record())
    await store.enqueue(
        InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=idle.thread_id,
            position=0,
            input=[{"type": "text", "text": "x"}],
            created_at=time.time(),
        )
    )
    await asyncio.sleep(0.2)

    work = {(w.kind, w.thread_id, w.turn_id) for w in await store.find_work()}

    assert work == {
        ("expired", expired.thread_id, expired_turn.turn.turn_id),
        ("wake", handed.thread_id, handed_turn.turn.turn_id),
        ("inbox", idle.thread_id, None),
    }


async def test_work_is_found_oldest_first(store: Store) -> None:
    waiting = [await store.create_thread(thread_record()) for _ in range(3)]
    for thread in reversed(waiting):  # queued newest thread first, oldest input last
        await store.enqueue(
            InboxEntry(
                entry_id=new_id("inbox"),
                thread_id=thread.thread_id,
                position=0,
                input=[{"type": "text", "text": "x"}],
                created_at=time.time(),
            )
        )
        await asyncio.sleep(0.01)
    found = [w.thread_id for w in await store.find_work() if w.kind == "inbox"]
    assert found == [t.thread_id for t in reversed(waiting)]


async def test_a_refused_write_changes_nothing_and_says_why(store: Store) -> None:
    from threadline.store import CursorMovedError

    thread, started = await started_turn(store)
    turn_id = started.turn.turn_id
    answer = Item(
        item_id=new_id("item"),
        thread_id=thread.thread_id,
        turn_id=turn_id,
        seq=2,
        status="completed",
        payload=AgentMessage(text="never stored"),
        created_at=time.time(),
    )
    after = ThreadCursor(last_item_seq=2, last_event_seq=0)
    moved = ThreadCursor(last_item_seq=7, last_event_seq=0)
    refused: list[tuple[type[Exception], TurnWrite]] = [
        (CursorMovedError, noop(thread, started, started.epoch, cursor=after, expected=moved)),
        (LeaseLost, noop(thread, started, started.epoch + 1, cursor=after)),
        (
            CursorMovedError,
            noop(thread, started, started.epoch, cursor=after, consume_inbox=[new_id("inbox")]),
        ),
    ]
    for error, write in refused:
        with pytest.raises(error):
            await store.write_turn(
                replace(
                    write,
                    items=[answer],
                    tool_states={"call_x": "started"},
                    turn_status="completed",
                    end="release",
                )
            )
        assert [i.seq for i in await store.load_items(thread.thread_id)] == [1]
        assert await store.load_tool_states(thread.thread_id, turn_id) == {}
        stored = await store.get_thread(thread.thread_id)
        assert stored is not None
        assert (stored.active_turn_id, stored.last_item_seq) == (turn_id, 1)
        stored_turn = await store.get_turn(turn_id)
        assert stored_turn is not None and stored_turn.status == "running"


async def test_waiting_turns_are_claimed_once_each(store: Store) -> None:
    expired = [await started_turn(store, lease_seconds=0.1) for _ in range(3)]
    handed = [await started_turn(store) for _ in range(3)]
    for thread, started in handed:
        assert await store.hand_back(thread.thread_id, started.epoch) is True
    held, held_turn = await started_turn(store)
    await asyncio.sleep(0.2)
    skipped = expired[0][0].thread_id

    claims = await asyncio.gather(
        *(store.claim_turns(f"w{n}", lease_seconds=30, limit=2, skip=[skipped]) for n in range(4))
    )

    claimed = [lease for claim in claims for lease in claim]
    waiting = {(t.thread_id, s.turn.turn_id) for t, s in [*expired[1:], *handed]}
    assert sorted((c.thread_id, c.turn_id) for c in claimed) == sorted(waiting)
    for lease in claimed:
        stored = await store.get_thread(lease.thread_id)
        assert stored is not None and stored.lease_owner == lease.owner
        assert stored.lease_epoch == lease.epoch
        turn = await store.get_turn(lease.turn_id)
        assert turn is not None and turn.status == "running"
    assert held.thread_id not in {c.thread_id for c in claimed}
    assert held_turn.turn.turn_id
    assert await store.claim_turns("late", lease_seconds=30, skip=[skipped]) == []
    assert [c.thread_id for c in await store.claim_turns("late", lease_seconds=30)] == [skipped]


async def test_a_started_turn_says_whether_input_waits(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    first = await store.begin_turn(begin(thread))
    assert isinstance(first, TurnStarted)
    assert (first.written.queued_input, first.written.steering) == (False, False)
    for kind in ("steer", "input"):
        await store.enqueue(
            InboxEntry(
                entry_id=new_id("inbox"),
                thread_id=thread.thread_id,
                position=0,
                input=[{"type": "text", "text": kind}],
                created_at=time.time(),
                kind=kind,  # type: ignore[arg-type]
            )
        )
    written = await store.write_turn(noop(thread, first, first.epoch))
    assert (written.queued_input, written.steering) == (True, True)


async def test_a_turns_writes_submitted_at_once_apply_in_order(store: Store) -> None:
    if not getattr(store, "ordered_writes", False):
        pytest.skip("this store does not promise the order of writes not awaited")
    from threadline.store import CursorMovedError

    thread, started = await started_turn(store)
    base = started.cursor
    cursors = [
        ThreadCursor(last_item_seq=base.last_item_seq + n, last_event_seq=base.last_event_seq)
        for n in range(4)
    ]

    def step(n: int, epoch: int) -> TurnWrite:
        item = Item(
            item_id=new_id("item"),
            thread_id=thread.thread_id,
            turn_id=started.turn.turn_id,
            seq=2 + n,
            status="completed",
            payload=AgentMessage(text=f"step {n}"),
            created_at=time.time(),
        )
        return (
            noop(thread, started, epoch, items=[item], expected=cursors[n], cursor=cursors[n + 1])
            if n < 3
            else noop(thread, started, epoch, expected=cursors[n], cursor=cursors[n])
        )

    written = await asyncio.gather(*(store.write_turn(step(n, started.epoch)) for n in range(3)))
    assert len(written) == 3
    assert [i.seq for i in await store.load_items(thread.thread_id)] == [1, 2, 3, 4]

    # A refused write takes down the writes that expected it, each with its own error.
    stale, after = await asyncio.gather(
        store.write_turn(noop(thread, started, started.epoch + 5, cursor=cursors[3])),
        store.write_turn(step(3, started.epoch)),
        return_exceptions=True,
    )
    assert isinstance(stale, LeaseLost)
    assert not isinstance(after, BaseException)
    bad_cursor = await asyncio.gather(
        store.write_turn(
            noop(thread, started, started.epoch, expected=cursors[0], cursor=cursors[1])
        ),
        store.write_turn(
            noop(thread, started, started.epoch, expected=cursors[3], cursor=cursors[3])
        ),
        return_exceptions=True,
    )
    assert isinstance(bad_cursor[0], CursorMovedError)
    assert not isinstance(bad_cursor[1], BaseException)
    assert [i.seq for i in await store.load_items(thread.thread_id)] == [1, 2, 3, 4]
