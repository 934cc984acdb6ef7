"""What every `Store` must do with step records: store them with a turn's write, upsert them
by number, list them by thread and turn, and delete them with the thread."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from test_contract import begin, noop, started_turn, thread_record

from threadline.store import Store, ThreadCursor, TurnStarted
from threadline.types import (
    AgentMessage,
    InvalidInputError,
    Item,
    LeaseLost,
    StepRecord,
    Usage,
    new_id,
)


def step(started: TurnStarted, number: int, **fields: object) -> StepRecord:
    values: dict[str, object] = {
        "step_id": new_id("step"),
        "thread_id": started.turn.thread_id,
        "turn_id": started.turn.turn_id,
        "number": number,
        "kind": "model",
        "status": "completed",
        "started_at": time.time(),
    }
    values.update(fields)
    return StepRecord(**values)  # type: ignore[arg-type]


def answer(started: TurnStarted, seq: int) -> Item:
    return Item(
        item_id=new_id("item"),
        thread_id=started.turn.thread_id,
        turn_id=started.turn.turn_id,
        seq=seq,
        status="completed",
        payload=AgentMessage(text="hello"),
        created_at=time.time(),
    )


async def test_steps_are_stored_with_the_items_of_their_write(store: Store) -> None:
    thread, started = await started_turn(store)
    item = answer(started, 2)
    model = step(
        started,
        0,
        usage=Usage(input_tokens=3, output_tokens=4),
        item_ids=(item.item_id,),
        data={"model": "scripted"},
        ended_at=time.time(),
    )
    cursor = ThreadCursor(last_item_seq=2, last_event_seq=started.cursor.last_event_seq)
    await store.write_turn(
        noop(thread, started, started.epoch, cursor=cursor, items=[item], step_records=[model])
    )

    assert await store.list_steps(thread.thread_id, started.turn.turn_id) == [model]


async def test_a_step_written_again_is_one_record_that_keeps_its_id_and_start(
    store: Store,
) -> None:
    thread, started = await started_turn(store)
    paused = step(started, 1, kind="tools", status="paused", item_ids=("item_a",))
    first = step(started, 0)
    await store.write_turn(noop(thread, started, started.epoch, step_records=[first, paused]))
    finished = replace(
        paused,
        step_id=new_id("step"),
        started_at=paused.started_at + 5,
        status="completed",
        ended_at=time.time(),
        item_ids=("item_a", "item_b"),
        data={"tools": ["t"]},
    )
    await store.write_turn(noop(thread, started, started.epoch, step_records=[finished]))

    listed = await store.list_steps(thread.thread_id, started.turn.turn_id)

    assert [s.number for s in listed] == [0, 1]
    assert listed[1] == replace(finished, step_id=paused.step_id, started_at=paused.started_at)


async def test_steps_are_listed_only_for_the_thread_that_has_the_turn(store: Store) -> None:
    thread, started = await started_turn(store)
    await store.write_turn(noop(thread, started, started.epoch, step_records=[step(started, 0)]))
    other = await store.create_thread(thread_record())

    assert await store.list_steps(other.thread_id, started.turn.turn_id) == []
    assert await store.list_steps(thread.thread_id, "turn_unknown") == []
    assert await store.list_steps("thr_unknown", started.turn.turn_id) == []


async def test_steps_belong_to_the_active_turn_and_stay_with_it(store: Store) -> None:
    thread, started = await started_turn(store)
    await store.write_turn(
        noop(
            thread,
            started,
            started.epoch,
            step_records=[step(started, 0)],
            turn_status="completed",
            end="release",
        )
    )
    second = await store.begin_turn(begin(thread, number=2, item_seq=1, event_seq=1))
    assert isinstance(second, TurnStarted)
    later = step(second, 0, data={"model": "m2"})
    await store.write_turn(noop(thread, second, second.epoch, step_records=[later]))

    first_steps = await store.list_steps(thread.thread_id, started.turn.turn_id)
    assert [s.data for s in first_steps] == [{}]
    assert await store.list_steps(thread.thread_id, second.turn.turn_id) == [later]


async def test_a_write_that_loses_its_lease_stores_no_step(store: Store) -> None:
    thread, started = await started_turn(store)
    with pytest.raises(LeaseLost):
        await store.write_turn(
            noop(thread, started, started.epoch + 1, step_records=[step(started, 0)])
        )
    assert await store.list_steps(thread.thread_id, started.turn.turn_id) == []


async def test_a_step_of_an_unknown_status_is_refused_and_nothing_is_written(store: Store) -> None:
    thread, started = await started_turn(store)
    with pytest.raises(InvalidInputError):
        await store.write_turn(
            noop(
                thread,
                started,
                started.epoch,
                step_records=[step(started, 0, status="completed\x00")],
            )
        )
    assert await store.list_steps(thread.thread_id, started.turn.turn_id) == []


async def test_deleting_a_thread_deletes_its_steps(store: Store) -> None:
    thread, started = await started_turn(store)
    await store.write_turn(noop(thread, started, started.epoch, step_records=[step(started, 0)]))

    assert await store.delete_thread(thread.thread_id) is True

    assert await store.list_steps(thread.thread_id, started.turn.turn_id) == []
