"""What every `Store` must do with the event log: replaying it from any seq yields what the
turn streamed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest

import threadline as tl
from threadline.store import (
    Store,
)
from threadline.types import (
    AgentMessage,
    Event,
    ModelError,
    TextPart,
    UserMessage,
)

# -- the event log: replay is what was streamed ----------------------------------------------
# These drive a real turn through the runtime, since the promise is about what its live stream
# delivered: replaying the stored log from any seq yields it, deltas coalesced.


def coalesced(streamed: list[Event]) -> list[Event]:
    """The live events as the log keeps them: consecutive deltas sharing a seq joined, with
    their lengths when there are several."""
    log: list[Event] = []
    parts: list[list[str]] = []
    for event in streamed:
        if event.is_delta and log and log[-1].seq == event.seq:
            parts[-1].append(event.params["delta"])
            continue
        log.append(event)
        parts.append([event.params["delta"]] if event.is_delta else [])
    for n, joined in enumerate(parts):
        if joined:
            params = {k: v for k, v in log[n].params.items() if k != "delta"}
            params["delta"] = "".join(joined)
            if len(joined) > 1:
                params["sizes"] = [len(part) for part in joined]
            log[n] = replace(log[n], params=params, original=None)
    return log


def as_stored(events: list[Event]) -> list[bytes]:
    return [orjson.dumps(e.to_dict()) for e in events]


async def test_replay_from_every_seq_is_what_was_streamed(store: Store) -> None:
    from threadline.testing import ScriptedModel, ScriptedToolCall, Step, fail

    @tl.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return {"city": city, "temp_c": 18}

    model = ScriptedModel(
        [
            Step(
                reasoning="The user wants the weather.",
                text="Let me look.",
                tool_calls=[ScriptedToolCall(name="get_weather", arguments='{"city": "Oslo"}')],
            ),
            Step(text="It is 18 °C in Oslo.", deltas=["It is ", "18 °C", " in ", "Oslo."]),
            Step(tool_calls=[ScriptedToolCall(name="get_weather", arguments='{"city": "Rome"}')]),
            "Rome is warm.",
            fail(ModelError("the connection dropped"), after_text="Half an answer"),
        ]
    )
    agent = tl.Agent(name="a", tools=[get_weather])
    async with tl.Threadline(agents=[agent], store=store, model=model) as app:
        thread = await app.threads.start()
        async with thread.subscribe() as live:
            await thread.append([AgentMessage(text="Welcome back.")])  # items of no turn
            await thread.run(  # a turn that imports history first
                "Weather in Oslo?",
                history=[UserMessage(content=(TextPart(text="Hi"),)), AgentMessage(text="Hello")],
            )
            paused = await thread.run("And Rome?", require_approval=["get_weather"])
            await thread.approve(paused.pending_approvals[0].tool_call_id)
            await thread.resume_turn()
            with pytest.raises(tl.TurnFailedError):  # a stream cut mid-item
                await thread.run("And Paris?")
            live.close()
            streamed = [event async for event in live]
        expected = coalesced(streamed)
        last = expected[-1].seq
        assert [e.seq for e in expected] == list(range(1, last + 1))
        assert {e.type for e in expected} >= {
            "turn_started",
            "item_started",
            "agent_message_delta",
            "reasoning_delta",
            "tool_arguments_delta",
            "item_completed",
            "approval_requested",
            "approval_resolved",
            "usage_delta",
            "completed",
            "failed",
        }
        for after in range(last + 1):
            rest = [e for e in expected if e.seq > after]
            assert as_stored(await store.load_events(thread.id, after_seq=after)) == as_stored(
                rest
            ), after
            for limit in (1, 2, 5):
                replayed = await store.load_events(thread.id, after_seq=after, limit=limit)
                assert as_stored(replayed) == as_stored(rest[:limit]), (after, limit)
