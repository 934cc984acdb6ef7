"""The `tracing` phase: what storing and exporting spans costs a turn. One thread per variant
on a SQLite file (synchronous=FULL, as the per-turn figure), each turn a tool call and an
answer:

- off: `Threadline(tracing=False)`;
- stored: spans stored with the turn's writes (the default);
- exported: stored, and exported through the OpenTelemetry SDK to an in-memory exporter.

The variants run alternately in rounds; a figure is the median over every timed turn."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._alternating import alternate, ready, summary
from ._replies import Reply, threadline_model

Turn = Callable[[], Awaitable[str]]
ANSWER = "It is 18 C in Paris."
VARIANTS = ("off", "stored", "exported")


@dataclass(frozen=True)
class TracingWorkload:
    rounds: int = 6
    turns: int = 40  # per round, per variant
    warm_up: int = 10

    @classmethod
    def quick(cls) -> TracingWorkload:
        return cls(rounds=2, turns=15, warm_up=3)


def _weather(tool_output: str | None) -> Reply:
    return ANSWER if tool_output is not None else ("get_weather", '{"city": "Paris"}')


def _app_options(variant: str) -> dict[str, Any]:
    if variant == "off":
        return {"tracing": False}
    if variant == "stored":
        return {}
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return {"tracer_provider": provider}


async def _open(variant: str, folder: Path) -> tuple[Any, Turn]:
    import threadline as tl

    @tl.tool
    async def get_weather(city: str) -> str:
        """Current weather for a city."""
        return f"18 C in {city}"

    agent = tl.Agent(
        name="weather", model=threadline_model("bench-weather", _weather), tools=[get_weather]
    )
    store = tl.SQLiteStore(folder / f"{variant}.db", synchronous="FULL")
    app = tl.Threadline(agents=[agent], store=store, **_app_options(variant))
    await app.open()
    thread = await app.threads.start()

    async def turn() -> str:
        return (await thread.run("Weather in Paris?")).text

    return app, turn


async def run(workload: TracingWorkload) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        opened = {name: await _open(name, Path(folder)) for name in VARIANTS}
        try:
            for name, (_, turn) in opened.items():
                for _ in range(workload.warm_up):
                    answer = await turn()
                    assert answer == ANSWER, (name, answer)
            samples = await alternate(
                {name: ready(turn) for name, (_, turn) in opened.items()},
                rounds=workload.rounds,
                per_round=workload.turns,
            )
        finally:
            for app, _ in opened.values():
                await app.close()
    result = summary(samples, "turns")
    medians = result["median_ms"]
    return {
        **result,
        "stored_ratio": medians["stored"] / medians["off"],
        "exported_ratio": medians["exported"] / medians["off"],
    }


def render(result: dict[str, Any]) -> str:
    medians, p90 = result["median_ms"], result["p90_ms"]
    lines = ["Tracing: one turn (tool call + answer) on SQLite, median (p90) ms"]
    for name in medians:
        lines.append(f"  {name:<10} {medians[name]:8.2f} ({p90[name]:.2f})")
    lines.append(
        f"  stored / off {result['stored_ratio']:.3f}x, "
        f"exported / off {result['exported_ratio']:.3f}x (goal: stored <= 1.10x)"
    )
    return "\n".join(lines)
