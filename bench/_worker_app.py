"""The app of the benchmark's worker processes:
`threadline --app bench._worker_app:agents --model py:bench._worker_app:model worker`.

The same agent (name, instructions, `get_weather`) and model as the in-process threadline
adapter: one tool call, then a 50-delta answer; each model step first waits the seconds that
$BENCH_MODEL_SECONDS says (default 0: zero latency).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import threadline as tl
from threadline.models import ModelEvent, ModelRequest

from . import _workload as w
from ._threadline import BenchModel, get_weather

AGENT_NAME = "bench"
MODEL_SECONDS_ENV = "BENCH_MODEL_SECONDS"

agents = [tl.Agent(name=AGENT_NAME, instructions=w.INSTRUCTIONS, tools=[get_weather])]


class WaitingModel(BenchModel):
    """`BenchModel` after a wait per step: the time a remote model takes to answer."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        await asyncio.sleep(self.seconds)
        async for event in super().stream(request):
            yield event


def model() -> BenchModel:
    seconds = float(os.environ.get(MODEL_SECONDS_ENV) or 0)
    return WaitingModel(seconds) if seconds > 0 else BenchModel()
