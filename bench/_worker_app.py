"""The app of the benchmark's worker processes:
`threadline --app bench._worker_app:agents --model py:bench._worker_app:model worker`.

The same agent (name, instructions, `get_weather`) and zero-latency model as the in-process
threadline adapter: one tool call, then a 50-delta answer.
"""

from __future__ import annotations

import threadline as tl

from . import _workload as w
from ._threadline import BenchModel, get_weather

AGENT_NAME = "bench"

agents = [tl.Agent(name=AGENT_NAME, instructions=w.INSTRUCTIONS, tools=[get_weather])]


def model() -> BenchModel:
    return BenchModel()
