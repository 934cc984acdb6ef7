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

import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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


def _threadline_agent() -> Any:
    import threadline as tl
    from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
    from threadline.types import ToolResult

    class Weather:
        name = "bench-weather"

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
            if isinstance(request.items[-1].payload, ToolResult):
                yield ModelResponse(text=ANSWER)
                return
            call = ToolCallRequest(
                tool_call_id=f"call_{len(request.items)}",
                name="get_weather",
                arguments='{"city": "Paris"}',
            )
            yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")

    @tl.tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"18 C in {city}"

    return tl.Agent(name="weather", model=Weather(), tools=[get_weather])


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
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.usage import Usage
    from openai.types.responses import (
        ResponseFunctionToolCall,
        ResponseOutputMessage,
        ResponseOutputText,
    )

    agents.set_tracing_disabled(True)
    counter = iter(range(10**9))

    def answered(input: Any) -> bool:
        if isinstance(input, str) or not input:
            return False
        last = input[-1]
        kind = last.get("type") if isinstance(last, dict) else getattr(last, "type", None)
        return kind == "function_call_output"

    class Scripted(Model):
        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            input = args[1] if len(args) > 1 else kwargs.get("input")
            if answered(input):
                output: list[Any] = [
                    ResponseOutputMessage(
                        id=f"msg_{next(counter)}",
                        type="message",
                        role="assistant",
                        status="completed",
                        content=[
                            ResponseOutputText(text=ANSWER, type="output_text", annotations=[])
                        ],
                    )
                ]
            else:
                call_id = f"call_{next(counter)}"
                output = [
                    ResponseFunctionToolCall(
                        id=f"fc_{call_id}",
                        call_id=call_id,
                        type="function_call",
                        name="get_weather",
                        arguments='{"city": "Paris"}',
                        status="completed",
                    )
                ]
            return ModelResponse(
                output=output,
                usage=Usage(requests=1, input_tokens=10, output_tokens=5),
                response_id=None,
            )

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError("the benchmark runs without streaming")

    @function_tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"18 C in {city}"

    agent = Agent(
        name="weather", model=Scripted(), model_settings=ModelSettings(), tools=[get_weather]
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
    samples: dict[str, list[float]] = {name: [] for name in builders}
    calls: dict[str, Call] = {}
    for name, build in builders.items():
        calls[name] = await build()
        for _ in range(workload.warm_up):
            answer = await calls[name]()
            assert answer == ANSWER, (name, answer)
    for _ in range(workload.rounds):
        for name, call in calls.items():
            for _ in range(workload.calls):
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "median_ms": medians,
        "p90_ms": {n: statistics.quantiles(v, n=10)[-1] for n, v in samples.items()},
        "calls": {n: len(v) for n, v in samples.items()},
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
