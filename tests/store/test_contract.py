"""What every `Store` must do. Written against the protocol only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest

from threadline.store import (
    BeginTurn,
    Duplicate,
    Enqueued,
    ItemQuery,
    Store,
    ThreadCursor,
    ThreadUpdate,
    TurnStarted,
    TurnWrite,
)
from threadline.types import (
    AgentMessage,
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    LeaseLost,
    NotFoundError,
    StoreError,
    TextPart,
    ThreadRecord,
    TimerRecord,
    ToolCall,
    ToolResult,
    TurnInProgressError,
    TurnRecord,
    Usage,
    UserMessage,
    new_id,
)


def thread_record(**fields: Any) -> ThreadRecord:
    now = time.time()
    return ThreadRecord(
        thread_id=new_id("thr"), agent="a", created_at=now, updated_at=now, **fields
    )


def user_item(thread: ThreadRecord, turn_id: str, seq: int, text: str = "hi") -> Item:
    return Item(
        item_id=new_id("item"),
        thread_id=thread.thread_id,
        turn_id=turn_id,
        seq=seq,
        status="completed",
        payload=UserMessage(content=(TextPart(text=text),)),
        created_at=time.time(),
    )


def begin(
    thread: ThreadRecord,
    *,
    number: int = 1,
    item_seq: int = 0,
    event_seq: int = 0,
    client_key: str | None = None,
    enqueue_if_busy: bool = False,
    lease_seconds: float = 30.0,
) -> BeginTurn:
    now = time.time()
    turn = TurnRecord(
        turn_id=new_id("turn"),
        thread_id=thread.thread_id,
        number=number,
        status="running",
        input=[{"type": "text", "text": "hi"}],
        client_key=client_key,
        created_at=now,
        updated_at=now,
    )
    event = Event(
        type="turn_started",
        thread_id=thread.thread_id,
        turn_id=turn.turn_id,
        item_id=None,
        seq=event_seq + 1,
        params={"number": number},
    )
    return BeginTurn(
        turn=turn,
        expected=ThreadCursor(last_item_seq=item_seq, last_event_seq=event_seq),
        items=[user_item(thread, turn.turn_id, item_seq + 1)],
        events=[event],
        enqueue_if_busy=enqueue_if_busy,
        owner=OWNER,
        lease_seconds=lease_seconds,
    )


OWNER = "proc_a"


async def test_threads_round_trip(store: Store) -> None:
    made = await store.create_thread(
        thread_record(user_id="u", metadata={"a": [1, "é"]}, state={"n": 1})
    )
    assert await store.get_thread(made.thread_id) == made
    assert await store.get_thread("thr_missing") is None
    updated = await store.update_thread(
        made.thread_id, ThreadUpdate(mode="plan", metadata={"b": 2})
    )
    assert (updated.mode, updated.metadata, updated.state) == ("plan", {"b": 2}, {"n": 1})
    with pytest.raises(NotFoundError):
        await store.update_thread("thr_missing", ThreadUpdate(mode=None))


async def test_a_key_names_one_thread_per_owner(store: Store) -> None:
    nobodys = await store.create_thread(thread_record(key="support", metadata={"n": 0}))
    anns = await store.create_thread(thread_record(key="support", user_id="ann"))
    bobs = await store.create_thread(thread_record(key="support", user_id="bob"))
    empty = await store.create_thread(thread_record(key="support", user_id=""))

    assert len({nobodys.thread_id, anns.thread_id, bobs.thread_id, empty.thread_id}) == 4
    assert (bobs.user_id, bobs.metadata) == ("bob", {})
    again = [
        await store.create_thread(thread_record(key="support", user_id=user_id))
        for user_id in (None, "ann", "bob", "")
    ]
    assert again == [nobodys, anns, bobs, empty]
    assert len((await store.list_threads(limit=100)).threads) == 4


async def test_begin_turn_is_atomic_and_exclusive(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    request = begin(thread)

    started = await store.begin_turn(request)

    assert isinstance(started, TurnStarted)
    assert started.cursor == ThreadCursor(last_item_seq=1, last_event_seq=1)
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None
    assert (stored.active_turn_id, stored.status, stored.turn_count) == (
        request.turn.turn_id,
        "active",
        1,
    )
    assert await store.load_items(thread.thread_id) == list(request.items)
    with pytest.raises(TurnInProgressError):
        await store.begin_turn(begin(thread, number=2, item_seq=1, event_seq=1))
    queued = await store.begin_turn(
        begin(thread, number=2, item_seq=1, event_seq=1, enqueue_if_busy=True)
    )
    assert isinstance(queued, Enqueued)
    assert queued.active_turn_id == request.turn.turn_id
    assert [e.entry_id for e in await store.list_inbox(thread.thread_id)] == [queued.entry.entry_id]


async def test_a_client_key_is_used_once(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    first = await store.begin_turn(begin(thread, client_key="k"))
    assert isinstance(first, TurnStarted)

    again = await store.begin_turn(begin(thread, client_key="k"))

    assert isinstance(again, Duplicate)
    assert again.turn is not None
    assert again.turn.turn_id == first.turn.turn_id
    assert len(await store.load_items(thread.thread_id)) == 1


async def test_a_turn_write_may_replace_the_turns_options(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    started = await store.begin_turn(begin(thread))
    assert isinstance(started, TurnStarted)
    write = TurnWrite(
        thread_id=thread.thread_id,
        turn_id=started.turn.turn_id,
        epoch=started.epoch,
        cursor=ThreadCursor(last_item_seq=1, last_event_seq=1),
    )

    await store.write_turn(replace(write, options={"annotations": {"k": "v"}}))
    await store.write_turn(write)  # without options: kept

    stored = await store.get_turn(started.turn.turn_id)
    assert stored is not None
    assert stored.options == {"annotations": {"k": "v"}}


async def test_write_turn_is_fenced_to_the_active_turn(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    started = await store.begin_turn(begin(thread))
    assert isinstance(started, TurnStarted)
    turn = started.turn
    answer = Item(
        item_id=new_id("item"),
        thread_id=thread.thread_id,
        turn_id=turn.turn_id,
        seq=2,
        status="completed",
        payload=AgentMessage(text="hello"),
        created_at=time.time(),
    )

    await store.write_turn(
        TurnWrite(
            thread_id=thread.thread_id,
            turn_id=turn.turn_id,
            epoch=started.epoch,
            cursor=ThreadCursor(last_item_seq=2, last_event_seq=1),
            items=[answer],
            turn_status="completed",
            usage=Usage(input_tokens=3, output_tokens=4),
            steps=1,
            end="release",
            thread_state={"x": 1},
        )
    )

    stored_turn = await store.get_turn(turn.turn_id)
    assert stored_turn is not None
    assert (stored_turn.status, stored_turn.usage.total_tokens, stored_turn.steps) == (
        "completed",
        7,
        1,
    )
    assert stored_turn.completed_at is not None
    stored_thread = await store.get_thread(thread.thread_id)
    assert stored_thread is not None
    assert (stored_thread.active_turn_id, stored_thread.status, stored_thread.state) == (
        None,
        "idle",
        {"x": 1},
    )
    with pytest.raises(LeaseLost):
        await store.write_turn(
            TurnWrite(
                thread_id=thread.thread_id,
                turn_id=turn.turn_id,
                epoch=started.epoch,
                cursor=ThreadCursor(last_item_seq=2, last_event_seq=1),
            )
        )


async def test_one_call_and_one_result_per_tool_call_id(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    started = await store.begin_turn(begin(thread))
    assert isinstance(started, TurnStarted)

    def item(seq: int, payload: Any) -> Item:
        return Item(
            item_id=new_id("item"),
            thread_id=thread.thread_id,
            turn_id=started.turn.turn_id,
            seq=seq,
            status="completed",
            payload=payload,
            created_at=time.time(),
        )

    call = ToolCall(tool_call_id="c1", name="t", arguments="{}")
    result = ToolResult(tool_call_id="c1", name="t", output="ok")
    await store.write_turn(
        TurnWrite(
            thread_id=thread.thread_id,
            turn_id=started.turn.turn_id,
            epoch=started.epoch,
            cursor=ThreadCursor(last_item_seq=3, last_event_seq=1),
            items=[item(2, call), item(3, result)],
        )
    )
    with pytest.raises(StoreError):
        await store.write_turn(
            TurnWrite(
                thread_id=thread.thread_id,
                epoch=started.epoch,
                turn_id=started.turn.turn_id,
                cursor=ThreadCursor(last_item_seq=4, last_event_seq=1),
                items=[item(4, result)],
            )
        )
    assert [i.seq for i in await store.load_items(thread.thread_id)] == [1, 2, 3]


async def test_concurrent_writes_all_commit(store: Store) -> None:
    threads = await asyncio.gather(
        *(store.create_thread(thread_record(user_id=str(n))) for n in range(50))
    )
    outcomes = await asyncio.gather(*(store.begin_turn(begin(t)) for t in threads))
    assert all(isinstance(o, TurnStarted) for o in outcomes)
    page = await store.list_threads(limit=100)
    assert len(page.threads) == 50


async def test_listing_pages_newest_first(store: Store) -> None:
    made = [await store.create_thread(thread_record(user_id="u")) for _ in range(5)]
    first = await store.list_threads(user_id="u", limit=3)
    second = await store.list_threads(user_id="u", limit=3, cursor=first.next_cursor)
    assert [t.thread_id for t in first.threads + second.threads] == [
        t.thread_id for t in reversed(made)
    ]
    assert second.next_cursor is None
    with pytest.raises(InvalidInputError):
        await store.list_threads(limit=5000)


async def test_inbox_is_ordered_and_idempotent(store: Store) -> None:
    thread = await store.create_thread(thread_record())

    def entry(text: str, key: str | None = None) -> InboxEntry:
        return InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=thread.thread_id,
            position=0,
            input=[{"type": "text", "text": text}],
            client_key=key,
            created_at=time.time(),
        )

    a = await store.enqueue(entry("a", "k"))
    b = await store.enqueue(entry("b"))
    a_again = await store.enqueue(entry("a", "k"))

    assert a_again == a
    assert [e.entry_id for e in await store.list_inbox(thread.thread_id)] == [
        a.entry_id,
        b.entry_id,
    ]
    peeked = await store.peek_inbox(thread.thread_id)
    assert peeked == a
    assert a.position < b.position


async def test_an_input_that_became_a_turn_is_not_queued_again_by_its_client_key(
    store: Store,
) -> None:
    thread = await store.create_thread(thread_record())
    queued = await store.enqueue(
        InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=thread.thread_id,
            position=0,
            input=[{"type": "text", "text": "hi"}],
            client_key="k",
            created_at=time.time(),
        )
    )
    request = begin(thread, client_key="k")
    turn_id = "turn_" + queued.entry_id.split("_", 1)[1]
    request = replace(
        request,
        turn=replace(request.turn, turn_id=turn_id),
        events=[replace(e, turn_id=turn_id) for e in request.events],
        items=[replace(i, turn_id=turn_id) for i in request.items],
        inbox_entry_id=queued.entry_id,
    )
    assert isinstance(await store.begin_turn(request), TurnStarted)

    again = await store.enqueue(replace(queued, entry_id=new_id("inbox")))

    assert again.entry_id == queued.entry_id
    assert await store.list_inbox(thread.thread_id) == []


async def test_a_queued_duplicate_of_a_turn_leaves_the_inbox_when_it_would_start(
    store: Store,
) -> None:
    # Stores written before enqueue looked at turns may hold an entry whose input already ran.
    thread = await store.create_thread(thread_record())
    first = await store.begin_turn(begin(thread, client_key="k"))
    assert isinstance(first, TurnStarted)
    stale = InboxEntry(
        entry_id=new_id("inbox"),
        thread_id=thread.thread_id,
        position=0,
        input=[{"type": "text", "text": "hi"}],
        client_key="k2",
        created_at=time.time(),
    )
    stale = await store.enqueue(stale)
    request = begin(thread, number=2, item_seq=1, event_seq=1, client_key="k")
    request = replace(request, inbox_entry_id=stale.entry_id)

    outcome = await store.begin_turn(request)

    assert isinstance(outcome, Duplicate)
    assert outcome.turn is not None and outcome.turn.turn_id == first.turn.turn_id
    assert await store.list_inbox(thread.thread_id) == []


async def test_events_load_after_a_seq(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    started = await store.begin_turn(begin(thread))
    assert isinstance(started, TurnStarted)
    events = [
        Event(
            type="agent_message_delta",
            thread_id=thread.thread_id,
            turn_id=started.turn.turn_id,
            item_id="i",
            seq=n,
            params={"delta": str(n)},
        )
        for n in range(2, 6)
    ]
    await store.write_turn(
        TurnWrite(
            thread_id=thread.thread_id,
            turn_id=started.turn.turn_id,
            epoch=started.epoch,
            cursor=ThreadCursor(last_item_seq=1, last_event_seq=5),
            events=events,
        )
    )
    loaded = await store.load_events(thread.thread_id, after_seq=3)
    assert [(e.seq, e.params["delta"]) for e in loaded] == [(4, "4"), (5, "5")]
    assert [e.seq for e in await store.load_events(thread.thread_id, limit=2)] == [1, 2]


async def test_delete_removes_everything(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    await store.begin_turn(begin(thread))
    assert await store.delete_thread(thread.thread_id) is True
    assert await store.get_thread(thread.thread_id) is None
    assert await store.load_items(thread.thread_id) == []
    assert await store.list_turns(thread.thread_id) == []
    assert await store.delete_thread(thread.thread_id) is False


async def started_turn(
    store: Store, lease_seconds: float = 30.0
) -> tuple[ThreadRecord, TurnStarted]:
    thread = await store.create_thread(thread_record())
    started = await store.begin_turn(begin(thread, lease_seconds=lease_seconds))
    assert isinstance(started, TurnStarted)
    return thread, started


def noop(thread: ThreadRecord, started: TurnStarted, epoch: int, **fields: Any) -> TurnWrite:
    fields.setdefault("cursor", started.cursor)
    return TurnWrite(
        thread_id=thread.thread_id, turn_id=started.turn.turn_id, epoch=epoch, **fields
    )


async def test_due_timers_fire_once_into_the_inbox(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    now = time.time()
    due = TimerRecord(
        timer_id=new_id("timer"),
        thread_id=thread.thread_id,
        due_at=now - 1,
        kind="input",
        input=[{"type": "text", "text": "ping"}],
        created_at=now,
    )
    later = TimerRecord(
        timer_id=new_id("timer"),
        thread_id=thread.thread_id,
        due_at=now + 3600,
        kind="input",
        input=[{"type": "text", "text": "later"}],
        created_at=now,
    )
    await store.schedule_timer(due)
    await store.schedule_timer(later)

    fired = await asyncio.gather(store.fire_due_timers(), store.fire_due_timers())

    assert [t.timer_id for batch in fired for t in batch] == [due.timer_id]
    assert [e.input[0]["text"] for e in await store.list_inbox(thread.thread_id)] == ["ping"]
    assert [t.timer_id for t in await store.list_timers(thread.thread_id)] == [later.timer_id]
    other = await store.create_thread(thread_record())
    assert await store.cancel_timer(other.thread_id, later.timer_id) is False
    assert [t.timer_id for t in await store.list_timers(thread.thread_id)] == [later.timer_id]
    assert await store.cancel_timer(thread.thread_id, later.timer_id) is True
    assert await store.cancel_timer(thread.thread_id, later.timer_id) is False


async def test_tool_call_states_move_with_the_turn(store: Store) -> None:
    thread, started = await started_turn(store)
    calls = [
        Item(
            item_id=new_id("item"),
            thread_id=thread.thread_id,
            turn_id=started.turn.turn_id,
            seq=seq,
            status="completed",
            payload=ToolCall(tool_call_id=call_id, name="t", arguments="{}"),
            created_at=time.time(),
        )
        for seq, call_id in ((2, "c1"), (3, "c2"))
    ]
    cursor = ThreadCursor(last_item_seq=3, last_event_seq=1)
    await store.write_turn(
        noop(
            thread,
            started,
            started.epoch,
            cursor=cursor,
            items=calls,
            tool_states={"c1": "requested", "c2": "requested"},
        )
    )
    await store.write_turn(
        noop(thread, started, started.epoch, cursor=cursor, tool_states={"c1": "started"})
    )
    assert await store.load_tool_states(thread.thread_id, started.turn.turn_id) == {
        "c1": "started",
        "c2": "requested",
    }
    # A state is kept with its call: a call the thread does not hold has none.
    with pytest.raises(InvalidInputError, match="no tool call 'c3'"):
        await store.write_turn(
            noop(thread, started, started.epoch, cursor=cursor, tool_states={"c3": "started"})
        )
    assert await store.load_tool_states(thread.thread_id, started.turn.turn_id) == {
        "c1": "started",
        "c2": "requested",
    }


async def test_integrity_and_clock(store: Store) -> None:
    assert await store.check_integrity() == []
    assert abs(await store.db_time() - time.time()) < 5


async def test_reasoning_state_round_trips(store: Store) -> None:
    from threadline.types import Reasoning

    thread, started = await started_turn(store)
    state = {
        "openai_responses": {
            "skeleton": [{"type": "reasoning", "id": "rs_1", "encrypted_content": "gAAA"}]
        }
    }
    item = Item(
        item_id=new_id("item"),
        thread_id=thread.thread_id,
        turn_id=started.turn.turn_id,
        seq=2,
        status="completed",
        payload=Reasoning(text="", data=state),
        created_at=time.time(),
    )
    await store.write_turn(
        noop(
            thread,
            started,
            started.epoch,
            items=[item],
            cursor=ThreadCursor(last_item_seq=2, last_event_seq=1),
        )
    )
    assert (await store.load_items(thread.thread_id))[-1] == item


async def test_timers_of_an_archived_thread_lapse(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    now = time.time()
    timer = TimerRecord(
        timer_id=new_id("timer"),
        thread_id=thread.thread_id,
        due_at=now - 1,
        kind="input",
        input=[{"type": "text", "text": "x"}],
        created_at=now,
    )
    await store.schedule_timer(timer)
    await store.update_thread(thread.thread_id, ThreadUpdate(status="archived"))

    assert await store.fire_due_timers() == []
    assert await store.fire_due_timers() == []  # nothing stuck: it lapsed once
    assert await store.list_inbox(thread.thread_id) == []
    assert [t.status for t in await store.list_timers(thread.thread_id, pending_only=False)] == [
        "cancelled"
    ]


async def test_items_are_read_by_page_id_and_tool_call(store: Store) -> None:
    thread = await store.create_thread(thread_record())
    started = await store.begin_turn(begin(thread))
    assert isinstance(started, TurnStarted)
    turn_id = started.turn.turn_id

    def item(seq: int, payload: Any) -> Item:
        return Item(
            item_id=new_id("item"),
            thread_id=thread.thread_id,
            turn_id=turn_id,
            seq=seq,
            status="completed",
            payload=payload,
            created_at=time.time(),
        )

    items = [
        item(2, ToolCall(tool_call_id="c1", name="t", arguments="{}")),
        item(3, ToolResult(tool_call_id="c1", name="t", output="ok")),
        item(4, ToolCall(tool_call_id="c2", name="t", arguments="{}")),
        item(5, ToolResult(tool_call_id="c2", name="t", output="ok")),
        *(item(seq, AgentMessage(text=str(seq))) for seq in range(6, 11)),
    ]
    await store.write_turn(
        TurnWrite(
            thread_id=thread.thread_id,
            turn_id=turn_id,
            epoch=started.epoch,
            cursor=ThreadCursor(last_item_seq=10, last_event_seq=1),
            items=items,
        )
    )
    other = await store.create_thread(thread_record())
    await store.begin_turn(begin(other))

    async def seqs(**query: Any) -> list[int]:
        found = await store.query_items(ItemQuery(thread_id=thread.thread_id, **query))
        assert all(i.thread_id == thread.thread_id for i in found)
        return [i.seq for i in found]

    assert await seqs() == list(range(1, 11))
    assert await seqs(after_seq=3, limit=2) == [4, 5]
    assert await seqs(newest_first=True, limit=3) == [10, 9, 8]
    assert await seqs(before_seq=5, newest_first=True) == [4, 3, 2, 1]
    assert await seqs(after_seq=2, before_seq=6) == [3, 4, 5]
    assert await seqs(item_ids=[items[3].item_id, items[0].item_id]) == [2, 5]
    assert await seqs(call_ids=["c2"]) == [4, 5]
    assert await seqs(call_ids=["c1", "c2"], types=["tool_result"]) == [3, 5]
    assert await seqs(types=["agent_message"], newest_first=True, limit=2) == [10, 9]
    assert await seqs(item_ids=[]) == []
    assert await seqs(call_ids=["nope"]) == []
    loaded = await store.query_items(ItemQuery(thread_id=thread.thread_id, item_ids=["x"]))
    assert loaded == []
    [first] = await store.query_items(ItemQuery(thread_id=thread.thread_id, limit=1))
    assert first == (await store.load_items(thread.thread_id, limit=1))[0]
    foreign = await store.query_items(
        ItemQuery(thread_id=other.thread_id, item_ids=[items[0].item_id])
    )
    assert foreign == []
    [others] = await store.load_items(other.thread_id)
    anywhere = await store.query_items(
        ItemQuery(thread_id=None, item_ids=[items[0].item_id, others.item_id, "x"])
    )
    assert sorted(i.item_id for i in anywhere) == sorted([items[0].item_id, others.item_id])
    with pytest.raises(ValueError, match="by item_ids only"):
        await store.query_items(ItemQuery(thread_id=None))


async def test_values_that_look_like_sql_are_stored_as_given(store: Store) -> None:
    thread, started = await started_turn(store)
    text = "it's; DROP TABLE threads; -- %s %% ? {threads} $1 \\' \" E'\\x00'"
    answer = Item(
        item_id=new_id("item"),
        thread_id=thread.thread_id,
        turn_id=started.turn.turn_id,
        seq=2,
        status="completed",
        payload=ToolCall(tool_call_id=text, name="t", arguments=text),
        created_at=time.time(),
    )
    await store.write_turn(
        noop(
            thread,
            started,
            started.epoch,
            cursor=ThreadCursor(last_item_seq=2, last_event_seq=0),
            items=[answer],
            thread_state={"note": text},
            tool_states={text: "started"},
        )
    )
    (loaded,) = await store.query_items(ItemQuery(thread_id=thread.thread_id, after_seq=1))
    assert loaded == answer
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None and stored.state == {"note": text}
    assert await store.load_tool_states(thread.thread_id, started.turn.turn_id) == {text: "started"}
