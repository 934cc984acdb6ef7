"""NUL characters and lone surrogates behave the same on every store: refused with a clear error
in plain text columns, kept exactly inside JSON, and never matched by a lookup."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest
from test_contract import begin, noop, started_turn, thread_record

from threadline.store import Store, ThreadCursor, ThreadUpdate
from threadline.types import (
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    TextPart,
    ThreadRecord,
    UserMessage,
    new_id,
)

BAD = pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"], ids=["nul", "lone_surrogate"])


@BAD
@pytest.mark.parametrize("field", ["key", "user_id", "agent", "resource_id", "parent_id"])
async def test_plain_text_columns_refuse_it(store: Store, field: str, bad: str) -> None:
    fields: dict[str, Any] = {field: bad}
    if field == "agent":
        now = time.time()
        record = ThreadRecord(thread_id=new_id("thr"), agent=bad, created_at=now, updated_at=now)
    else:
        record = thread_record(**fields)
    with pytest.raises(InvalidInputError, match=field) as raised:
        await store.create_thread(record)
    assert bad not in str(raised.value)
    assert (await store.list_threads()).threads == []


@BAD
async def test_turn_inbox_and_lease_fields_refuse_it(store: Store, bad: str) -> None:
    thread = await store.create_thread(thread_record())
    with pytest.raises(InvalidInputError, match="owner"):
        await store.begin_turn(replace(begin(thread), owner=bad))
    with pytest.raises(InvalidInputError, match="client_key"):
        await store.begin_turn(begin(thread, client_key=bad))
    with pytest.raises(InvalidInputError, match="sender"):
        await store.enqueue(
            InboxEntry(
                entry_id=new_id("inbox"),
                thread_id=thread.thread_id,
                position=0,
                input=[],
                sender=bad,
                created_at=time.time(),
            )
        )
    with pytest.raises(InvalidInputError, match="mode"):
        await store.update_thread(thread.thread_id, ThreadUpdate(mode=bad))
    assert await store.list_turns(thread.thread_id) == []
    assert await store.list_inbox(thread.thread_id) == []

    thread, started = await started_turn(store)
    with pytest.raises(InvalidInputError, match="tool_call_id"):
        await store.write_turn(noop(thread, started, started.epoch, tool_states={bad: "started"}))
    with pytest.raises(InvalidInputError, match="owner"):
        await store.acquire_lease(
            thread.thread_id, started.turn.turn_id, owner=bad, lease_seconds=1
        )
    assert await store.load_tool_states(thread.thread_id, started.turn.turn_id) == {}


async def test_nul_inside_json_is_kept_exactly(store: Store) -> None:
    text = "before\x00after \u2028 é 🙂"
    made = await store.create_thread(thread_record(metadata={"k\x00": text}, state={"s": text}))
    assert await store.get_thread(made.thread_id) == made
    thread, started = await started_turn(store)
    item = Item(
        item_id=new_id("item"),
        thread_id=thread.thread_id,
        turn_id=started.turn.turn_id,
        seq=2,
        status="completed",
        payload=UserMessage(content=(TextPart(text=text),)),
        created_at=time.time(),
    )
    event = Event(
        type="turn_started",
        thread_id=thread.thread_id,
        turn_id=started.turn.turn_id,
        item_id=None,
        seq=2,
        params={"text": text},
    )
    await store.write_turn(
        replace(
            noop(thread, started, started.epoch, items=[item], events=[event]),
            cursor=ThreadCursor(last_item_seq=2, last_event_seq=2),
        )
    )
    assert (await store.load_items(thread.thread_id, after_seq=1)) == [item]
    assert (await store.load_events(thread.thread_id, after_seq=1))[0].params == {"text": text}


async def test_a_lone_surrogate_inside_json_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="JSON"):
        await store.create_thread(thread_record(metadata={"k": "a\ud800"}))
    thread, started = await started_turn(store)
    with pytest.raises(InvalidInputError, match="JSON"):
        await store.write_turn(noop(thread, started, started.epoch, thread_state={"x": "\udfff"}))
    stored = await store.get_thread(thread.thread_id)
    assert stored is not None
    assert stored.state is None


async def test_a_lookup_by_a_value_with_nul_finds_nothing(store: Store) -> None:
    thread, started = await started_turn(store)
    bad = thread.thread_id + "\x00"
    assert await store.get_thread(bad) is None
    assert await store.get_turn(started.turn.turn_id + "\x00") is None
    assert await store.load_items(bad) == []
    assert await store.list_inbox(bad) == []
    assert (await store.list_threads(user_id="\x00")).threads == []
    assert await store.hand_back(bad, started.epoch) is False
    assert await store.request_cancel("\x00") is False
    assert await store.delete_thread(bad) is False
    assert (await store.renew_leases("\x00", 30)).held == {}
