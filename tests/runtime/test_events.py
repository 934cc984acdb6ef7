from __future__ import annotations

from typing import Any

from dirty_equals import IsFloat, IsStr

import threadline as tl
from threadline.testing import Step, tool_call
from threadline.types import DELTA_EVENT_TYPES, Event

ID = IsStr(regex=r"^item_[0-9a-z]{26}$")
USAGE_STEP = {
    "input_tokens": 10,
    "output_tokens": 1,
    "cached_input_tokens": 0,
    "reasoning_tokens": 0,
    "cost_usd": 0.0,
}


def shape(events: list[Event]) -> list[tuple[int, str, dict[str, Any]]]:
    return [(e.seq, e.type, dict(e.params)) for e in events]


async def test_events_of_a_tool_calling_turn(make_app: Any, weather_tool: tl.Tool) -> None:
    app, _ = await make_app(
        [
            tool_call("get_weather", {"city": "Paris"}, tool_call_id="call_1"),
            Step(text="18 °C.", deltas=["18 ", "°C."]),
        ],
        tools=[weather_tool],
    )
    thread = await app.threads.start()

    events = [e async for e in thread.run_streamed("Weather in Paris?")]

    user = {
        "type": "user_message",
        "content": {"content": [{"type": "text", "text": "Weather in Paris?"}], "sender": None},
    }
    call = {"tool_call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}
    result = {
        "tool_call_id": "call_1",
        "name": "get_weather",
        "output": '{"city":"Paris","temp_c":18}',
        "outcome": "success",
    }

    def stored(seq: int, item_type: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "item": {
                "id": ID,
                "thread_id": thread.id,
                "turn_id": events[0].turn_id,
                "seq": seq,
                "type": item_type,
                "status": "completed",
                "content": content,
                "created_at": IsFloat,
            }
        }

    assert shape(events) == [
        (
            1,
            "turn_started",
            {"number": 1, "input": [{"type": "text", "text": "Weather in Paris?"}], "sender": None},
        ),
        (2, "item_started", {"item": {"id": ID, "status": "in_progress", **user}}),
        (3, "item_completed", stored(1, "user_message", user["content"])),
        (
            4,
            "item_started",
            {
                "item": {
                    "id": ID,
                    "type": "tool_call",
                    "status": "in_progress",
                    "content": {**call, "arguments": ""},
                }
            },
        ),
        (5, "tool_arguments_delta", {"delta": '{"city":"Paris"}', "tool_call_id": "call_1"}),
        (6, "usage_delta", {"usage": USAGE_STEP, "total": USAGE_STEP}),
        (7, "item_completed", stored(2, "tool_call", call)),
        (
            8,
            "item_started",
            {
                "item": {
                    "id": ID,
                    "type": "tool_result",
                    "status": "in_progress",
                    "content": {**result, "output": ""},
                }
            },
        ),
        (9, "item_completed", stored(3, "tool_result", result)),
        (
            10,
            "item_started",
            {
                "item": {
                    "id": ID,
                    "type": "agent_message",
                    "status": "in_progress",
                    "content": {"text": ""},
                }
            },
        ),
        (11, "agent_message_delta", {"delta": "18 "}),
        (11, "agent_message_delta", {"delta": "°C."}),
        (
            12,
            "usage_delta",
            {
                "usage": {**USAGE_STEP, "output_tokens": 2},
                "total": {**USAGE_STEP, "input_tokens": 20, "output_tokens": 3},
            },
        ),
        (13, "item_completed", stored(4, "agent_message", {"text": "18 °C."})),
        (
            14,
            "completed",
            {
                "status": "completed",
                "text": "18 °C.",
                "output": None,
                "usage": {**USAGE_STEP, "input_tokens": 20, "output_tokens": 3},
            },
        ),
    ]
    assert all(e.thread_id == thread.id and e.turn_id == events[0].turn_id for e in events)


async def test_replaying_the_log_from_any_seq_yields_what_live_delivered(
    make_app: Any, weather_tool: tl.Tool
) -> None:
    app, _ = await make_app(
        [tool_call("get_weather", {"city": "Rome"}), Step(text="Sunny in Rome today.")],
        tools=[weather_tool],
    )
    thread = await app.threads.start()

    live = [e async for e in thread.run_streamed("Rome?")]

    def coalesced(events: list[Event]) -> list[tuple[int, str, dict[str, Any]]]:
        out: list[tuple[int, str, dict[str, Any]]] = []
        for e in events:
            if out and e.type in DELTA_EVENT_TYPES and out[-1][0] == e.seq:
                joined = out[-1][2]
                sizes = joined.get("sizes", [len(joined["delta"])])
                joined["sizes"] = [*sizes, len(e.params["delta"])]
                joined["delta"] += e.params["delta"]
            else:
                out.append((e.seq, e.type, dict(e.params)))
        return out

    for start in range(0, live[-1].seq + 1):
        replayed = await thread.events(after_seq=start)
        assert shape(replayed) == coalesced([e for e in live if e.seq > start])
    seqs = [e.seq for e in await thread.events()]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_subscribers_see_turns_they_did_not_start(make_app: Any) -> None:
    app, _ = await make_app(["first", "second"])
    thread = await app.threads.start()
    watcher = await app.threads.resume(thread.id)
    subscription = watcher.subscribe()

    await thread.run("one")
    await thread.run("two")
    watcher.unsubscribe()

    seen = [e async for e in subscription]
    assert [e.params["text"] for e in seen if e.type == "completed"] == ["first", "second"]
    seqs = sorted({e.seq for e in seen})
    assert seqs == list(range(1, seqs[-1] + 1))


async def test_subscribe_and_unsubscribe_can_be_awaited(make_app: Any) -> None:
    app, _ = await make_app(["first", "second"])
    thread = await app.threads.start()
    watcher = await app.threads.resume(thread.id)

    subscription = await watcher.subscribe()
    await thread.run("one")
    await watcher.unsubscribe()
    await thread.run("two")

    seen = [e async for e in subscription]
    assert [e.params["text"] for e in seen if e.type == "completed"] == ["first"]


async def test_a_subscription_used_as_a_context_manager_ends_with_the_block(
    make_app: Any,
) -> None:
    app, _ = await make_app(["first"])
    thread = await app.threads.start()

    async with thread.subscribe() as subscription:
        await thread.run("one")
        types = []
        async for event in subscription:
            types.append(event.type)
            if event.is_terminal:
                break

    assert types[0] == "turn_started" and types[-1] == "completed"
    assert [e async for e in subscription] == []


class _ProviderModel:
    """A backend whose deltas carry the provider's own events, as the real backends do."""

    name = "provider"

    async def stream(self, request: Any) -> Any:
        from threadline.models import ModelResponse, TextDelta

        for n, word in enumerate(("Hello ", "there.")):
            yield TextDelta(delta=word, raw={"provider_event": "text.delta", "index": n})
        yield ModelResponse(text="Hello there.")


async def test_every_event_keeps_its_original_on_raw(make_store: Any) -> None:
    import orjson

    agent = tl.Agent(name="a", model=_ProviderModel())
    async with tl.Threadline(agents=[agent], store=make_store()) as app:
        thread = await app.threads.start()

        live = [e async for e in thread.run_streamed("hi")]
        stored = await thread.events()

    deltas = [e for e in live if e.is_delta]
    assert [e.raw for e in deltas] == [
        {"provider_event": "text.delta", "index": 0},
        {"provider_event": "text.delta", "index": 1},
    ]
    for event in [e for e in live if not e.is_delta]:
        assert event.raw == event.to_dict()
        assert event.raw["type"] == event.type
        assert event.raw["seq"] == event.seq
    # The log keeps wire forms, not provider payloads: each stored event's raw is itself.
    assert stored
    for event in stored:
        assert event.raw == event.to_dict()
        orjson.dumps(event.raw)
