"""What a failed or interrupted turn leaves in the log: every item it announced ends there,
as it did on the live stream, whether the turn's output is kept or hidden from the model."""

from __future__ import annotations

import time
from typing import Any

import threadline as tl
from threadline.models import ToolCallDelta
from threadline.store import BeginTurn, ThreadCursor, TurnStarted, TurnWrite
from threadline.testing import check_invariants, fail
from threadline.types import DELTA_EVENT_TYPES, Event, Item, TextPart, UserMessage, new_id


def coalesced(events: list[Event]) -> list[tuple[int, str, str | None, dict[str, Any]]]:
    out: list[tuple[int, str, str | None, dict[str, Any]]] = []
    for e in events:
        if out and e.type in DELTA_EVENT_TYPES and out[-1][0] == e.seq:
            joined = out[-1][3]
            joined["sizes"] = [*joined.get("sizes", [len(joined["delta"])]), len(e.params["delta"])]
            joined["delta"] += e.params["delta"]
        else:
            out.append((e.seq, e.type, e.item_id, dict(e.params)))
    return out


async def test_a_hidden_failed_turn_still_ends_the_items_it_streamed(make_app: Any) -> None:
    app, model = await make_app(
        [fail(tl.ModelError("boom"), after_text="Half an answer"), "fresh"],
        persist_partial_on_error=False,
    )
    thread = await app.threads.start()

    live: list[Event] = []
    try:
        async for event in thread.run_streamed("hi"):
            live.append(event)
    except tl.TurnFailedError:
        pass

    message_id = next(e.item_id for e in live if e.type == "agent_message_delta")
    ended = [e for e in live if e.type == "item_completed" and e.item_id == message_id]
    assert [e.params["item"]["status"] for e in ended] == ["failed"]
    assert ended[0].params["item"]["content"]["text"] == "Half an answer"
    # Replaying the log from any point yields what the live stream delivered after it.
    for start in range(live[-1].seq + 1):
        assert coalesced(await thread.events(after_seq=start)) == coalesced(
            [e for e in live if e.seq > start]
        )
    # Stored, but hidden from the model with the rest of the turn.
    await thread.run("again")
    assert [i.text for i in model.requests[-1].items] == ["hi", "again"]


async def test_a_tool_call_cut_off_mid_stream_ends_unrun_with_a_result(make_app: Any) -> None:
    runs: list[str] = []

    @tl.tool
    async def get_weather(city: str) -> str:
        """Weather."""
        runs.append(city)
        return "sunny"

    class HalfACall:
        name = "half"

        async def stream(self, request: Any) -> Any:
            yield ToolCallDelta(
                index=0, tool_call_id="call_1", name="get_weather", arguments_delta='{"city": "Os'
            )
            raise tl.ModelError("connection lost")

    agent = tl.Agent(name="a", model=HalfACall(), tools=[get_weather])
    app, _ = await make_app(agents=[agent])
    thread = await app.threads.start()

    live: list[Event] = []
    try:
        async for event in thread.run_streamed("Oslo?"):
            live.append(event)
    except tl.TurnFailedError:
        pass

    started = [e.item_id for e in live if e.type == "item_started"]
    completed = [e.item_id for e in live if e.type == "item_completed"]
    assert set(started) <= set(completed)
    items = await thread.items()
    assert [(i.type, i.status) for i in items] == [
        ("user_message", "completed"),
        ("tool_call", "failed"),
        ("tool_result", "completed"),
        ("error", "completed"),
    ]
    assert items[2].payload.outcome == "cancelled"  # type: ignore[union-attr]
    assert "it was not run" in items[2].payload.output  # type: ignore[union-attr]
    assert runs == []


async def test_check_invariants_finds_an_item_that_never_ended(make_store: Any) -> None:
    async with make_store() as store:
        now = time.time()
        thread = await store.create_thread(
            tl.ThreadRecord(thread_id=new_id("thr"), agent="a", created_at=now, updated_at=now)
        )
        turn = tl.TurnRecord(
            turn_id=new_id("turn"),
            thread_id=thread.thread_id,
            number=1,
            status="running",
            input=[{"type": "text", "text": "hi"}],
            created_at=now,
            updated_at=now,
        )
        user = Item(
            item_id=new_id("item"),
            thread_id=thread.thread_id,
            turn_id=turn.turn_id,
            seq=1,
            status="completed",
            payload=UserMessage(content=(TextPart(text="hi"),)),
            created_at=now,
        )
        lost = new_id("item")

        def event(seq: int, kind: Any, item_id: str | None = None, **params: Any) -> Event:
            return Event(
                type=kind,
                thread_id=thread.thread_id,
                turn_id=turn.turn_id,
                item_id=item_id,
                seq=seq,
                params=params,
            )

        started = await store.begin_turn(
            BeginTurn(
                turn=turn,
                expected=ThreadCursor(last_item_seq=0, last_event_seq=0),
                owner="proc_a",
                lease_seconds=30,
                items=[user],
                events=[
                    event(1, "turn_started", number=1),
                    event(2, "item_completed", user.item_id, item=user.to_dict()),
                    event(3, "item_started", lost, item={"id": lost, "type": "agent_message"}),
                    event(4, "agent_message_delta", lost, delta="never finished"),
                ],
            )
        )
        assert isinstance(started, TurnStarted)
        assert await check_invariants(store, thread_ids=[thread.thread_id]) == []  # running

        await store.write_turn(
            TurnWrite(
                thread_id=thread.thread_id,
                turn_id=turn.turn_id,
                epoch=started.epoch,
                expected=ThreadCursor(last_item_seq=1, last_event_seq=4),
                cursor=ThreadCursor(last_item_seq=1, last_event_seq=5),
                events=[event(5, "completed", status="completed")],
                turn_status="completed",
                end="release",
            )
        )

        assert await check_invariants(store, thread_ids=[thread.thread_id]) == [
            f"I6 {thread.thread_id}: item {lost} of final turn {turn.turn_id} started and "
            "never completed"
        ]
