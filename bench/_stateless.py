"""The `stateless` phase: one call of a runner without a session, the way a request handler
runs an agent. The model calls a weather tool, then answers with its result; it answers at
once.

- threadline: `tl.run_agent(agent, input)`, on the agent's in-memory app (built on the first
  call of the loop, then borrowed; each call's thread is deleted before it returns).
- threadline, new app: the same turn on an app built, opened and closed for the call
  (`Threadline(store=":memory:")`): what the borrowed app saves.
- OpenAI Agents SDK: `Runner.run(agent, input)` without a session.

The frameworks run alternately in rounds, so that all see the same machine state; a figure is
the median over every timed call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ._alternating import alternate, ready, summary
from ._replies import Reply, agents_sdk_model, threadline_model

Call = Callable[[], Awaitable[str]]
ANSWER = "It is 18 C in Paris."


@dataclass(frozen=True)
class StatelessWorkload:
    rounds: int = 6
    calls: int = 50  # per round, per framework
    warm_up: int = 10

    @classmethod
    def quick(cls) -> StatelessWorkload:
        return cls(rounds=2, calls=15, warm_up=3)


def _weather(tool_output: str | None) -> Reply:
    return ANSWER if tool_output is not None else ("get_weather", '{"city": "Paris"}')


def _threadline_agent() -> Any:
    import threadline as tl

    @tl.tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"18 C in {city}"

    return tl.Agent(
        name="weather", model=threadline_model("bench-weather", _weather), tools=[get_weather]
    )


async def _threadline() -> Call:
    import threadline as tl

    agent = _threadline_agent()

    async def call() -> str:
        return (await tl.run_agent(agent, "Weather in Paris?")).text

    return call


async def _threadline_new_app() -> Call:
    import threadline as tl

    agent = _threadline_agent()

    async def call() -> str:
        async with tl.Threadline(agents=[agent], store=":memory:") as app:
            thread = await app.threads.start()
            return (await thread.run("Weather in Paris?")).text

    return call


async def _agents_sdk() -> Call:
    import agents
    from agents import Agent, ModelSettings, Runner, function_tool

    agents.set_tracing_disabled(True)

    @function_tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"18 C in {city}"

    agent = Agent(
        name="weather",
        model=agents_sdk_model(_weather),
        model_settings=ModelSettings(),
        tools=[get_weather],
    )

    async def call() -> str:
        return str((await Runner.run(agent, "Weather in Paris?")).final_output)

    return call


async def run(workload: StatelessWorkload) -> dict[str, Any]:
    builders = {
        "threadline": _threadline,
        "threadline-new-app": _threadline_new_app,
        "agents-sdk": _agents_sdk,
    }
    calls: dict[str, Call] = {}
    for name, build in builders.items():
        calls[name] = await build()
        for _ in range(workload.warm_up):
            answer = await calls[name]()
            assert answer == ANSWER, (name, answer)
    samples = await alternate(
        {name: ready(call) for name, call in calls.items()},
        rounds=workload.rounds,
        per_round=workload.calls,
    )
    result = summary(samples, "calls")
    medians = result["median_ms"]
    return {
        **result,
        "ratio": medians["threadline"] / medians["agents-sdk"],
        "new_app_ratio": medians["threadline-new-app"] / medians["agents-sdk"],
    }


def render(result: dict[str, Any]) -> str:
    medians, p90 = result["median_ms"], result["p90_ms"]
    lines = ["Stateless: one run_agent call (tool call + answer, no session), median (p90) ms"]
    for name in medians:
        lines.append(f"  {name:<20} {medians[name]:8.2f} ({p90[name]:.2f})")
    lines.append(
        f"  threadline / Agents SDK: {result['ratio']:.2f}x (run_agent stores the turn step by "
        "step in its in-memory SQLite store; Runner.run keeps it in Python objects); with a "
        f"new app per call: {result['new_app_ratio']:.2f}x"
    )
    return "\n".join(lines)
