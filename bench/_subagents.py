"""The `subagents` phase: delegating turns, each the first of a new conversation. A lead
agent's model calls a worker agent as a tool, the worker answers, the lead answers with what
it said; both models answer at once.

- threadline: `Agent(subagents=[worker])`: each call is a child thread, stored (with its
  input, items and turn) on the same SQLite file as the lead's thread (WAL, synchronous=FULL).
- OpenAI Agents SDK: `worker.as_tool()`, the lead run with `Runner.run` and a `SQLiteSession`
  (one file, a session per conversation); the worker's run lives in memory only.

Each framework runs alternately in rounds, so that both see the same machine state; a figure
is the median over every timed turn."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Turn = Callable[[], Awaitable[Callable[[], Awaitable[str]]]]
"""Makes a new conversation (not timed) and returns its delegating turn (timed)."""


@dataclass(frozen=True)
class SubagentWorkload:
    rounds: int = 6
    turns: int = 40  # per round, per framework
    warm_up: int = 10

    @classmethod
    def quick(cls) -> SubagentWorkload:
        return cls(rounds=2, turns=10, warm_up=3)


async def _threadline(folder: Path) -> tuple[Turn, Callable[[], Awaitable[None]]]:
    import threadline as tl
    from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
    from threadline.types import ToolResult

    class Lead:
        name = "bench-lead"

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
            last = request.items[-1].payload
            if isinstance(last, ToolResult):
                yield ModelResponse(text=f"The worker said: {last.output}")
                return
            call = ToolCallRequest(
                tool_call_id=f"call_{len(request.items)}",
                name="worker",
                arguments='{"input": "Summarise the tides."}',
            )
            yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")

    class Worker:
        name = "bench-worker"

        async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
            yield ModelResponse(text="High tide at six.")

    worker = tl.Agent(name="worker", model=Worker())
    lead = tl.Agent(name="lead", model=Lead(), subagents=[worker])
    app = tl.Threadline(agents=[lead], store=folder / "threadline.db")  # its own file
    await app.open()

    async def fresh() -> Callable[[], Awaitable[str]]:
        thread = await app.threads.start()

        async def turn() -> str:
            return (await thread.run("What about the tides?")).text

        return turn

    return fresh, app.close


async def _agents_sdk(folder: Path) -> tuple[Turn, Callable[[], Awaitable[None]]]:
    import agents
    from agents import Agent, ModelSettings, Runner, SQLiteSession
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

    def message(text: str) -> ResponseOutputMessage:
        return ResponseOutputMessage(
            id=f"msg_{next(counter)}",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(text=text, type="output_text", annotations=[])],
        )

    def answered(input: Any) -> Any:
        if isinstance(input, str) or not input:
            return None
        last = input[-1]
        kind = last.get("type") if isinstance(last, dict) else getattr(last, "type", None)
        if kind != "function_call_output":
            return None
        return last.get("output") if isinstance(last, dict) else last.output

    class Scripted(Model):
        def __init__(self, lead: bool) -> None:
            self.lead = lead

        async def get_response(self, *args: Any, **kwargs: Any) -> Any:
            input = args[1] if len(args) > 1 else kwargs.get("input")
            if not self.lead:
                output: list[Any] = [message("High tide at six.")]
            elif (result := answered(input)) is not None:
                output = [message(f"The worker said: {result}")]
            else:
                call_id = f"call_{next(counter)}"
                output = [
                    ResponseFunctionToolCall(
                        id=f"fc_{call_id}",
                        call_id=call_id,
                        type="function_call",
                        name="worker",
                        arguments='{"input": "Summarise the tides."}',
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

    worker = Agent(name="worker", model=Scripted(lead=False), model_settings=ModelSettings())
    lead = Agent(
        name="lead",
        model=Scripted(lead=True),
        tools=[worker.as_tool(tool_name="worker", tool_description="Researches a task.")],
    )
    sessions: list[SQLiteSession] = []

    async def fresh() -> Callable[[], Awaitable[str]]:
        session = SQLiteSession(f"bench-{len(sessions)}", str(folder / "agents.db"))
        sessions.append(session)

        async def turn() -> str:
            result = await Runner.run(lead, "What about the tides?", session=session)
            return str(result.final_output)

        return turn

    async def close() -> None:
        for session in sessions:
            session.close()

    return fresh, close


async def run(workload: SubagentWorkload) -> dict[str, Any]:
    builders = {"threadline": _threadline, "agents-sdk": _agents_sdk}
    samples: dict[str, list[float]] = {name: [] for name in builders}
    with tempfile.TemporaryDirectory() as tmp:
        opened: dict[str, tuple[Turn, Callable[[], Awaitable[None]]]] = {}
        for name, build in builders.items():
            opened[name] = await build(Path(tmp))
            fresh = opened[name][0]
            for _ in range(workload.warm_up):
                answer = await (await fresh())()
                assert answer == "The worker said: High tide at six.", (name, answer)
        try:
            for _ in range(workload.rounds):
                for name, (fresh, _) in opened.items():
                    for _ in range(workload.turns):
                        turn = await fresh()
                        started = time.perf_counter()
                        await turn()
                        samples[name].append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0)
        finally:
            for _, close in opened.values():
                await close()
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "median_ms": medians,
        "p90_ms": {n: statistics.quantiles(v, n=10)[-1] for n, v in samples.items()},
        "turns": {n: len(v) for n, v in samples.items()},
        "ratio": medians["threadline"] / medians["agents-sdk"],
    }


def render(result: dict[str, Any]) -> str:
    medians, p90 = result["median_ms"], result["p90_ms"]
    lines = ["Subagents: one delegating turn (lead -> worker -> lead), median (p90) ms"]
    for name in medians:
        lines.append(f"  {name:<12} {medians[name]:8.2f} ({p90[name]:.2f})")
    lines.append(
        f"  threadline / Agents SDK: {result['ratio']:.2f}x (threadline stores the worker's "
        "run as a child thread; the SDK keeps it in memory)"
    )
    return "\n".join(lines)
