"""Timing frameworks alternately: each round runs every framework's calls in turn, so that all
see the same machine state; a figure is the median (and p90) over every timed call."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Timed = Callable[[], Awaitable[Any]]
Prepare = Callable[[], Awaitable[Timed]]
"""Makes what one timed call needs (not timed: a new conversation, say) and returns the call."""


def ready(call: Timed) -> Prepare:
    """A `Prepare` for calls that need nothing made first."""

    async def prepare() -> Timed:
        return call

    return prepare


async def alternate(
    prepares: Mapping[str, Prepare], *, rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Milliseconds of each timed call, by name: `rounds` rounds of `per_round` calls each."""
    samples: dict[str, list[float]] = {name: [] for name in prepares}
    for _ in range(rounds):
        for name, prepare in prepares.items():
            for _ in range(per_round):
                call = await prepare()
                started = time.perf_counter()
                await call()
                samples[name].append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0)
    return samples


def summary(samples: Mapping[str, list[float]], count: str) -> dict[str, Any]:
    """Median and p90 (ms) per name, and how many calls (`count` names them) were timed."""
    return {
        "median_ms": {n: statistics.median(v) for n, v in samples.items()},
        "p90_ms": {n: statistics.quantiles(v, n=10)[-1] for n, v in samples.items()},
        count: {n: len(v) for n, v in samples.items()},
    }
