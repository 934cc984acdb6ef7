from __future__ import annotations

from typing import Any

import pytest

import threadline as tl
from threadline.testing import Step, tool_call


def failed_event(events: list[tl.Event]) -> dict[str, Any]:
    assert events[-1].type == "failed"
    return dict(events[-1].params["error"])


async def run_to_failure(
    thread: tl.Thread, **kwargs: Any
) -> tuple[tl.TurnFailedError, list[tl.Event]]:
    events: list[tl.Event] = []
    with pytest.raises(tl.TurnFailedError) as caught:
        async for event in thread.run_streamed("go", **kwargs):
            events.append(event)
    return caught.value, events


async def test_max_iterations(make_app: Any, weather_tool: tl.Tool) -> None:
    app, _ = await make_app(
        [tool_call("get_weather", {"city": "A"}), tool_call("get_weather", {"city": "B"})],
        tools=[weather_tool],
        max_iterations=2,
    )
    thread = await app.threads.start()

    error, events = await run_to_failure(thread)

    assert error.error_code == "budget_exceeded"
    assert failed_event(events) == {
        "code": "budget_exceeded",
        "limit": "max_iterations",
        "message": "budget exceeded: max_iterations=2 (used 2)",
        "value": 2,
        "used": 2,
    }
    turn = (await thread.turns())[0]
    assert turn.steps == 2
    assert turn.status == "failed"


async def test_max_tokens_counts_every_step(make_app: Any, weather_tool: tl.Tool) -> None:
    app, _ = await make_app(
        [
            Step(
                tool_calls=tool_call("get_weather", {"city": "A"}).tool_calls,
                usage=tl.Usage(input_tokens=60, output_tokens=10),
            ),
            Step(text="done", usage=tl.Usage(input_tokens=70, output_tokens=5)),
        ],
        tools=[weather_tool],
        max_tokens=100,
    )
    thread = await app.threads.start()

    error, events = await run_to_failure(thread)

    assert failed_event(events)["limit"] == "max_tokens"
    assert error.turn is not None
    assert error.turn.usage.total_tokens == 145
    assert (await thread.turns())[0].usage.total_tokens == 145


async def test_max_cost_per_run_overrides_the_agent(make_app: Any) -> None:
    app, _ = await make_app(
        [Step(text="pricey", usage=tl.Usage(input_tokens=1, cost_usd=0.5))], max_cost_usd=10.0
    )
    thread = await app.threads.start()

    _, events = await run_to_failure(thread, budget=tl.Budget(max_cost_usd=0.25))

    assert failed_event(events)["limit"] == "max_cost_usd"


async def test_max_wall_seconds(make_app: Any) -> None:
    app, model = await make_app([Step(text="slow", delay=30)], max_wall_seconds=0.2)
    thread = await app.threads.start()

    error, events = await run_to_failure(thread)

    assert failed_event(events)["limit"] == "max_wall_seconds"
    assert error.turn is not None
    assert error.turn.status == "failed"
    assert model.remaining == 0
