"""What every `Store` must do with trace spans: store them with a turn's write, upsert them by
span id, list them by thread and turn, prune them by age, and delete them with the thread."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from test_contract import noop, started_turn, thread_record

from threadline.store import Store, TurnStarted
from threadline.types import InvalidInputError, LeaseLost, SpanEvent, SpanRecord

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def span(started: TurnStarted, span_id: str, **fields: object) -> SpanRecord:
    values: dict[str, object] = {
        "span_id": span_id,
        "parent_id": None,
        "trace_id": TRACE,
        "thread_id": started.turn.thread_id,
        "turn_id": started.turn.turn_id,
        "name": "thread.run",
        "start": time.time(),
    }
    values.update(fields)
    return SpanRecord(**values)  # type: ignore[arg-type]


async def test_spans_are_stored_with_a_write_and_listed_by_start(store: Store) -> None:
    thread, started = await started_turn(store)
    run = span(started, "00f067aa0ba902b7")
    llm = span(
        started,
        "00f067aa0ba902b8",
        parent_id=run.span_id,
        name="thread.llm",
        start=run.start + 1,
        end=run.start + 2,
        status="ok",
        attributes={"gen_ai.request.model": "scripted", "gen_ai.usage.input_tokens": 3},
        events=(SpanEvent(name="first_token", at=run.start + 1.5),),
    )
    await store.write_turn(noop(thread, started, started.epoch, spans=[llm, run]))

    assert await store.list_spans(thread.thread_id, started.turn.turn_id) == [run, llm]


async def test_a_span_written_again_keeps_its_start_and_takes_its_end(store: Store) -> None:
    thread, started = await started_turn(store)
    run = span(started, "00f067aa0ba902b7")
    await store.write_turn(noop(thread, started, started.epoch, spans=[run]))
    ended = replace(run, start=run.start + 9, end=run.start + 10, status="error")
    await store.write_turn(noop(thread, started, started.epoch, spans=[ended]))

    assert await store.list_spans(thread.thread_id, started.turn.turn_id) == [
        replace(ended, start=run.start)
    ]


async def test_spans_are_listed_only_for_the_thread_that_has_the_turn(store: Store) -> None:
    thread, started = await started_turn(store)
    await store.write_turn(noop(thread, started, started.epoch, spans=[span(started, "a" * 16)]))
    other = await store.create_thread(thread_record())

    assert await store.list_spans(other.thread_id, started.turn.turn_id) == []
    assert await store.list_spans(thread.thread_id, "turn_unknown") == []
    assert await store.list_spans("thr_unknown", started.turn.turn_id) == []


async def test_a_write_that_loses_its_lease_stores_no_span(store: Store) -> None:
    thread, started = await started_turn(store)
    with pytest.raises(LeaseLost):
        await store.write_turn(
            noop(thread, started, started.epoch + 1, spans=[span(started, "a" * 16)])
        )
    assert await store.list_spans(thread.thread_id, started.turn.turn_id) == []


async def test_a_span_of_an_unknown_status_is_refused_and_nothing_is_written(store: Store) -> None:
    thread, started = await started_turn(store)
    with pytest.raises(InvalidInputError):
        await store.write_turn(
            noop(thread, started, started.epoch, spans=[span(started, "a" * 16, status="fine")])
        )
    assert await store.list_spans(thread.thread_id, started.turn.turn_id) == []


async def test_pruning_deletes_the_spans_that_ended_before_the_cutoff(store: Store) -> None:
    thread, started = await started_turn(store)
    now = time.time()
    old = span(started, "a" * 16, start=now - 100, end=now - 90)
    recent = span(started, "b" * 16, start=now - 5, end=now - 1)
    still_open = span(started, "c" * 16, start=now - 200)
    await store.write_turn(noop(thread, started, started.epoch, spans=[old, recent, still_open]))

    assert await store.prune_spans(now - 50) == 1

    listed = await store.list_spans(thread.thread_id, started.turn.turn_id)
    assert [s.span_id for s in listed] == ["c" * 16, "b" * 16]


async def test_deleting_a_thread_deletes_its_spans(store: Store) -> None:
    thread, started = await started_turn(store)
    await store.write_turn(noop(thread, started, started.epoch, spans=[span(started, "a" * 16)]))

    assert await store.delete_thread(thread.thread_id) is True

    assert await store.list_spans(thread.thread_id, started.turn.turn_id) == []
