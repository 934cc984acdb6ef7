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

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._alternating import alternate, summary
from ._replies import Reply, agents_sdk_model, threadline_model

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


def _lead(tool_output: str | None) -> Reply:
    if tool_output is not None:
        return f"The worker said: {tool_output}"
    return ("worker", '{"input": "Summarise the tides."}')


def _worker(tool_output: str | None) -> Reply:
    return "High tide at six."


async def _threadline(folder: Path) -> tuple[Turn, Callable[[], Awaitable[None]]]:
    import threadline as tl

    worker = tl.Agent(name="worker", model=threadline_model("bench-worker", _worker))
    lead = tl.Agent(name="lead", model=threadline_model("bench-lead", _lead), subagents=[worker])
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

    agents.set_tracing_disabled(True)

    worker = Agent(name="worker", model=agents_sdk_model(_worker), model_settings=ModelSettings())
    lead = Agent(
        name="lead",
        model=agents_sdk_model(_lead),
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
    with tempfile.TemporaryDirectory() as tmp:
        opened: dict[str, tuple[Turn, Callable[[], Awaitable[None]]]] = {}
        for name, build in builders.items():
            opened[name] = await build(Path(tmp))
            fresh = opened[name][0]
            for _ in range(workload.warm_up):
                answer = await (await fresh())()
                assert answer == "The worker said: High tide at six.", (name, answer)
        try:
            samples = await alternate(
                {name: fresh for name, (fresh, _) in opened.items()},
                rounds=workload.rounds,
                per_round=workload.turns,
            )
        finally:
            for _, close in opened.values():
                await close()
    result = summary(samples, "turns")
    medians = result["median_ms"]
    return {
        **result,
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
