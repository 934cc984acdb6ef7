"""`python -m bench --profile`: where threadline's time goes on the sequential workload.

Runs N x M sequential turns under cProfile (the event-loop thread only: the store's writer
thread is not profiled, its cost shows up as the time turns spend awaiting the store), and
prints a wall / CPU / store-wait breakdown per turn and the top functions.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from . import _workload as w
from ._threadline import ThreadlineAdapter


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})" if line else name


def _top(stats: pstats.Stats, sort: str, turns: int, limit: int) -> str:
    raw = stats.stats  # type: ignore[attr-defined]
    index = 2 if sort == "tottime" else 3
    rows = sorted(raw.items(), key=lambda kv: kv[1][index], reverse=True)[:limit]
    lines = [f"{'calls/turn':>10} {'own µs/turn':>11} {'cum µs/turn':>11}  function"]
    for key, (_, ncalls, tottime, cumtime, _) in rows:
        lines.append(
            f"{ncalls / turns:10.1f} {tottime * 1e6 / turns:11.1f} "
            f"{cumtime * 1e6 / turns:11.1f}  {_where(key)}"
        )
    return "\n".join(lines)


async def _run(wl: w.Workload, folder: Path, synchronous: str, limit: int) -> str:
    adapter = ThreadlineAdapter(folder / "profile.db", synchronous)
    await adapter.open()
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        warm = await adapter.new_thread()
        for _ in range(wl.warmup_turns):
            await adapter.turn(warm, w.USER_TEXT)
        threads = [await adapter.new_thread() for _ in range(wl.threads)]
        store0 = adapter.store_seconds
        profiler = cProfile.Profile()
        wall0, cpu0 = time.perf_counter(), time.thread_time()
        profiler.enable()
        for thread_id in threads:
            for _ in range(wl.turns):
                await adapter.turn(thread_id, w.USER_TEXT)
        profiler.disable()
        wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
        store = adapter.store_seconds - store0
    finally:
        await adapter.close()
    turns = wl.threads * wl.turns
    stats = pstats.Stats(profiler)
    head = (
        f"threadline, synchronous={synchronous}, {turns} sequential turns under cProfile "
        f"(profiling inflates CPU figures roughly 2x)\n"
        f"per turn: wall {wall * 1e3 / turns:.2f} ms | event-loop thread CPU "
        f"{cpu * 1e3 / turns:.2f} ms | awaiting store writes {store * 1e3 / turns:.2f} ms"
    )
    return "\n\n".join(
        [
            head,
            "Top by own time:",
            _top(stats, "tottime", turns, limit),
            "Top by cumulative time:",
            _top(stats, "cumtime", turns, limit),
        ]
    )


def profile(wl: w.Workload, synchronous: str = "FULL", limit: int = 30) -> str:
    with tempfile.TemporaryDirectory(prefix="threadline-bench-profile-") as folder:
        return asyncio.run(_run(wl, Path(folder), synchronous, limit))
