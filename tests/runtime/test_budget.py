from __future__ import annotations

import asyncio
import warnings
from typing import Any

import pytest

import threadline as tl
from threadline.models import PriceTable
from threadline.testing import ScriptedModel, Step, tool_call


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


async def run_to_failure_of(stream: tl.TurnStream) -> tuple[tl.TurnFailedError, list[tl.Event]]:
    events: list[tl.Event] = []
    with pytest.raises(tl.TurnFailedError) as caught:
        async for event in stream:
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


UNPRICED = tl.Usage(input_tokens=10, output_tokens=2, cost_usd=None)  # what a model without
# a price reports


class _PricedByTable:
    """A backend that knows its price table before any call, as the remote backends do."""

    def __init__(self, model: str, prices: PriceTable, steps: list[Any]) -> None:
        self.name = f"test:{model}"
        self.model = model
        self.prices = prices
        self.scripted = ScriptedModel(steps)

    def stream(self, request: Any) -> Any:
        return self.scripted.stream(request)


async def test_a_cost_limit_on_a_model_without_a_price_warns_at_its_first_step(
    make_app: Any,
) -> None:
    app, _ = await make_app(
        [Step(text="hello", usage=UNPRICED), Step(text="again", usage=UNPRICED)],
        max_cost_usd=1.0,
    )
    thread = await app.threads.start()

    with pytest.warns(tl.UnpricedModelWarning, match="max_cost_usd=1 cannot be enforced"):
        result = await thread.run("hi")

    assert result.text == "hello"
    assert result.usage.cost_usd is None
    # Warnings turned into errors ask for strictness: the turn fails cleanly, typed.
    with warnings.catch_warnings():
        warnings.simplefilter("error", tl.UnpricedModelWarning)
        with pytest.raises(tl.TurnFailedError) as caught:
            await thread.run("again")
    assert caught.value.error_code == "configuration_error"


async def test_a_cost_limit_on_a_model_known_to_have_no_price_warns_before_calling_it(
    make_store: Any,
) -> None:
    model = _PricedByTable("my-llama", PriceTable(defaults=False), ["hi"])
    agent = tl.Agent(name="a", model=model, max_cost_usd=0.5)  # type: ignore[arg-type]
    async with tl.Threadline(agents=[agent], store=make_store()) as app:
        thread = await app.threads.start()
        with pytest.warns(tl.UnpricedModelWarning, match="'test:my-llama' has no price"):
            await thread.run("hi")
    model.scripted.assert_done()


async def test_strict_cost_refuses_a_model_known_to_have_no_price_before_storing(
    make_store: Any,
) -> None:
    model = _PricedByTable("my-llama", PriceTable(defaults=False), [])
    agent = tl.Agent(
        name="a",
        model=model,  # type: ignore[arg-type]
        budget=tl.Budget(max_cost_usd=0.5, strict_cost=True),
    )
    async with tl.Threadline(agents=[agent], store=make_store()) as app:
        thread = await app.threads.start()

        with pytest.raises(tl.ConfigurationError, match="cannot be enforced"):
            await thread.run("hi")

        assert await thread.turns() == []
        assert await thread.items() == []
    assert model.scripted.requests == []


async def test_strict_cost_fails_the_turn_at_the_first_unpriced_step(make_app: Any) -> None:
    runs: list[str] = []

    @tl.tool
    async def get_weather(city: str) -> str:
        """Weather."""
        runs.append(city)
        return "sunny"

    app, model = await make_app(
        [Step(tool_calls=tool_call("get_weather", {"city": "Oslo"}).tool_calls, usage=UNPRICED)],
        tools=[get_weather],
    )
    thread = await app.threads.start()

    with pytest.raises(tl.TurnFailedError) as caught:
        await thread.run("Oslo?", budget=tl.Budget(max_cost_usd=0.5, strict_cost=True))

    assert caught.value.error_code == "configuration_error"
    assert len(model.requests) == 1
    assert runs == []  # nothing after the step that revealed the missing price


async def test_a_priced_model_with_a_cost_limit_does_not_warn(make_store: Any) -> None:
    prices = PriceTable(defaults=False)
    prices.register_price("my-llama", input=1.0, output=1.0)
    model = _PricedByTable("my-llama", prices, ["hi"])
    agent = tl.Agent(
        name="a",
        model=model,  # type: ignore[arg-type]
        budget=tl.Budget(max_cost_usd=0.5, strict_cost=True),
    )
    async with tl.Threadline(agents=[agent], store=make_store()) as app:
        thread = await app.threads.start()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert (await thread.run("hi")).text == "hi"


async def test_the_wall_budget_counts_running_time_not_the_wait_for_a_human(
    make_app: Any,
) -> None:
    runs: list[str] = []

    @tl.tool(needs_approval=True)
    async def transfer(to: str) -> str:
        """Send money."""
        runs.append(to)
        return f"sent to {to}"

    app, _ = await make_app(
        [tool_call("transfer", {"to": "ann"}, tool_call_id="t1"), "Done."],
        tools=[transfer],
        max_wall_seconds=0.5,
    )
    thread = await app.threads.start()
    paused = await thread.run("pay ann")
    assert paused.status == "paused"
    ran_before = (await thread.turns())[0].running_seconds
    assert 0 < ran_before < 0.5

    await asyncio.sleep(0.7)  # the human takes longer than the whole wall budget
    await thread.approve("t1")
    result = await thread.resume_turn()

    assert result.status == "completed"
    assert result.text == "Done."
    assert runs == ["ann"]
    turn = (await thread.turns())[0]
    assert ran_before < turn.running_seconds < 0.5  # both segments, without the wait


async def test_running_time_is_stored_and_carried_into_the_next_segment(
    make_app: Any,
) -> None:
    @tl.tool(needs_approval=True)
    async def transfer(to: str) -> str:
        """Send money."""
        return f"sent to {to}"

    app, model = await make_app(
        [
            Step(tool_calls=tool_call("transfer", {"to": "ann"}).tool_calls, delay=0.3),
            Step(text="too late", delay=5),
        ],
        tools=[transfer],
        max_wall_seconds=0.6,
    )
    thread = await app.threads.start()
    paused = await thread.run("pay ann")
    assert paused.status == "paused"
    assert (await thread.turns())[0].running_seconds >= 0.3

    await thread.approve(paused.pending_approvals[0].tool_call_id)
    error, events = await run_to_failure_of(thread.resume_turn_streamed())

    assert failed_event(events)["limit"] == "max_wall_seconds"
    assert failed_event(events)["used"] >= 0.6
    assert error.turn is not None
    assert error.turn.running_seconds >= 0.6
    assert len(model.requests) == 2
