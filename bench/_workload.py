"""The workload every framework runs, and the measurements taken on it.

Each framework is wrapped in an `Adapter` (one module per framework) that knows how to start a
thread, run one turn while consuming every streamed event, and load a thread's history. The
functions here drive adapters through the same phases and return plain dicts (JSON-ready).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import secrets
import sqlite3
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

INSTRUCTIONS = "You are a weather assistant. Answer in one short paragraph."
USER_TEXT = "What's the weather in Paris?"
TOOL_NAME = "get_weather"
TOOL_ARGS = {"city": "Paris"}
TOOL_ARGS_JSON = '{"city": "Paris"}'
TOOL_DESCRIPTION = "Current weather for a city."


_CALL_IDS = itertools.count()
_RUN = secrets.token_hex(3)


def new_call_id() -> str:
    """Tool-call ids unique across every adapter of this process (threads outlive adapters)."""
    return f"call_{_RUN}_{next(_CALL_IDS)}"


def answer_deltas(n: int) -> list[str]:
    """The streamed answer: `n` deltas of one short word each."""
    return [f"w{i % 1000} " for i in range(n)]


async def weather(city: str) -> dict[str, Any]:
    """The tool's body, shared by every framework: async, returns a small dict."""
    return {"city": city, "temp_c": 18, "conditions": "sunny"}


@dataclass(frozen=True)
class Workload:
    threads: int = 200
    turns: int = 5
    answer_deltas: int = 50
    stream_deltas: int = 10_000
    stream_samples: int = 3
    long_turns: int = 125  # 4 items a turn: 500 items
    long_samples: int = 20
    cold_samples: int = 3
    load_samples: int = 5
    large_items: int = 10_000  # the long thread is then grown to this many items, and loaded
    large_load_samples: int = 9  # cheap next to growing the thread, and the figure is noisy
    warmup_turns: int = 3

    @classmethod
    def quick(cls) -> Workload:
        return cls(
            threads=20, turns=3, stream_samples=2, long_samples=5, cold_samples=2, load_samples=3
        )


class Adapter(Protocol):
    """One framework, opened on one SQLite file."""

    commits: int  # storage transactions since the counter was last reset (-1: not counted)

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def set_answer_deltas(self, n: int) -> None: ...

    async def new_thread(self) -> str: ...

    async def turn(self, thread_id: str, text: str) -> int:
        """Run one turn to its end, consuming every streamed event; return how many."""
        ...

    async def prepare_load(self, thread_id: str) -> Any:
        """Whatever loading needs that is not the read itself (a session object...)."""
        ...

    async def load(self, handle: Any) -> int:
        """Read the thread's history from storage; return how many items/messages."""
        ...


@dataclass(frozen=True)
class Framework:
    name: str
    factory: Callable[[Path], Adapter]  # a new adapter on that database file
    notes: tuple[str, ...] = ()
    # "threadline"; "variant" (threadline configured otherwise); "peer"; "baseline" (the
    # hand-written floor). Only peers compete for "best peer".
    kind: str = "peer"


# -- small helpers ---------------------------------------------------------------------------


def stats_ms(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    if not ms:
        return {}
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return {
        "median": statistics.median(ms),
        "p95": p95,
        "mean": statistics.fmean(ms),
        "min": ms[0],
        "max": ms[-1],
        "n": len(ms),
    }


def checkpoint_and_size(path: Path) -> int:
    """Fold the WAL into the database file, then return database + WAL bytes."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        for _ in range(50):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                break
            time.sleep(0.02)
    finally:
        conn.close()
    return path.stat().st_size + wal_size(path)


def disk_probe(folder: Path, commits: int = 40) -> float:
    """Median ms of a one-row transaction with synchronous=FULL (WAL): what an fsync'd commit
    costs on this disk right now. Printed with the results, since it moves a lot on VMs."""
    path = folder / "probe.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
        times = []
        for _ in range(commits):
            start = time.perf_counter()
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (?)", ("x" * 200,))
            conn.execute("COMMIT")
            times.append(time.perf_counter() - start)
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return statistics.median(times) * 1000


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _timed_turn(adapter: Adapter, thread_id: str) -> tuple[float, int]:
    start = time.perf_counter()
    events = await adapter.turn(thread_id, USER_TEXT)
    return time.perf_counter() - start, events


async def _warm_up(adapter: Adapter, turns: int) -> None:
    thread_id = await adapter.new_thread()
    for _ in range(turns):
        await adapter.turn(thread_id, USER_TEXT)


# -- the phases ------------------------------------------------------------------------------


async def sequential_phase(fw: Framework, wl: Workload, folder: Path) -> dict[str, Any]:
    """N threads x M turns, one turn at a time: per-turn time, bytes and commits per turn."""
    path = folder / "sequential.db"
    adapter = fw.factory(path)
    await adapter.open()
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        await _warm_up(adapter, wl.warmup_turns)
        base = checkpoint_and_size(path)
        adapter.commits = 0 if adapter.commits >= 0 else -1
        store_start = getattr(adapter, "store_seconds", None)
        times: list[float] = []
        events: list[int] = []
        half_turns = (wl.threads // 2) * wl.turns
        half_bytes = None
        wal_bytes = None
        for n in range(wl.threads):
            thread_id = await adapter.new_thread()
            for _ in range(wl.turns):
                elapsed, count = await _timed_turn(adapter, thread_id)
                times.append(elapsed)
                events.append(count)
            if n == 0:
                # The WAL was truncated by the checkpoint above and is far from the size that
                # triggers an automatic one: its size now is what this thread's turns wrote.
                wal_bytes = wal_size(path)
            if n + 1 == wl.threads // 2:
                half_bytes = checkpoint_and_size(path) - base
        full_bytes = checkpoint_and_size(path) - base
        total_turns = wl.threads * wl.turns
        commits = adapter.commits
        store_seconds = None if store_start is None else adapter.store_seconds - store_start
    finally:
        await adapter.close()
    result: dict[str, Any] = {
        "turn_ms": stats_ms(times),
        "events_per_turn": statistics.median(events),
        "bytes": {
            "half": half_bytes,
            "half_turns": half_turns,
            "full": full_bytes,
            "full_turns": total_turns,
        },
        "bytes_per_turn": full_bytes / total_turns,
        "bytes_per_turn_half": (half_bytes / half_turns) if half_bytes and half_turns else None,
        "bytes_per_turn_second_half": (
            (full_bytes - half_bytes) / (total_turns - half_turns)
            if half_bytes is not None and total_turns > half_turns
            else None
        ),
        "commits_per_turn": commits / total_turns if commits >= 0 else None,
        "wal_bytes_per_turn": None if wal_bytes is None else wal_bytes / wl.turns,
        # threadline only: time its turns spent awaiting the store's write transactions
        "store_write_ms_per_turn": (
            None if store_seconds is None else store_seconds * 1000 / total_turns
        ),
    }
    return result


async def long_thread_phase(fw: Framework, wl: Workload, folder: Path) -> dict[str, Any]:
    """Build a 500-item thread; load it from a fresh instance; time turns on it (first turn
    after a reopen, then steady state) against turns on new threads; then grow it to
    `large_items` items and load it again."""
    path = folder / "long.db"
    adapter = fw.factory(path)
    await adapter.open()
    build_times: list[float] = []
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        await _warm_up(adapter, wl.warmup_turns)
        long_id = await adapter.new_thread()
        for _ in range(wl.long_turns):
            elapsed, _ = await _timed_turn(adapter, long_id)
            build_times.append(elapsed)
    finally:
        await adapter.close()

    items, loads = await _time_loads(fw, path, long_id, wl.load_samples)

    cold: list[float] = []
    for _ in range(wl.cold_samples):
        fresh = fw.factory(path)
        await fresh.open()
        try:
            fresh.set_answer_deltas(wl.answer_deltas)
            elapsed, _ = await _timed_turn(fresh, long_id)
            cold.append(elapsed)
        finally:
            await fresh.close()

    new_times: list[float] = []
    long_times: list[float] = []
    adapter = fw.factory(path)
    await adapter.open()
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        await _warm_up(adapter, wl.warmup_turns)
        await adapter.turn(long_id, USER_TEXT)  # this instance has now seen the thread
        for _ in range(wl.long_samples):
            thread_id = await adapter.new_thread()
            new_times.append((await _timed_turn(adapter, thread_id))[0])
            long_times.append((await _timed_turn(adapter, long_id))[0])
    finally:
        await adapter.close()
    new_ms = stats_ms(new_times)
    long_ms = stats_ms(long_times)
    cold_ms = stats_ms(cold)
    tail = build_times[-10:]
    return {
        "items_loaded": items,
        "load_ms": stats_ms(loads),
        "new_turn_ms": new_ms,
        "long_turn_ms": long_ms,
        "cold_long_turn_ms": cold_ms,
        "long_over_new": long_ms["median"] / new_ms["median"],
        "cold_over_new": cold_ms["median"] / new_ms["median"],
        "build": {
            "turns": wl.long_turns,
            "seconds": sum(build_times),
            "first_turns_ms": stats_ms(build_times[:10]),
            "last_turns_ms": stats_ms(tail),
        },
        "large": await _large_load(fw, wl, path, long_id),
    }


async def _time_loads(
    fw: Framework, path: Path, thread_id: str, samples: int
) -> tuple[int, list[float]]:
    """Load the thread `samples` times, each from a freshly opened instance."""
    loads: list[float] = []
    items = 0
    for _ in range(samples):
        gc.collect()
        fresh = fw.factory(path)
        await fresh.open()
        try:
            handle = await fresh.prepare_load(thread_id)
            start = time.perf_counter()
            items = await fresh.load(handle)
            loads.append(time.perf_counter() - start)
        finally:
            await fresh.close()
    return items, loads


async def _large_load(
    fw: Framework, wl: Workload, path: Path, thread_id: str
) -> dict[str, Any] | None:
    """Grow the long thread to `wl.large_items` items, then time loading it. threadline runs
    turns; a framework whose load handle is a session that appends stored items (the Agents
    SDK's `add_items`, what its runner calls after each turn) gets copies of the thread's last
    turn, with fresh call ids. Others are left out: building that thread by turns would take
    minutes."""
    adapter = fw.factory(path)
    await adapter.open()
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        handle = await adapter.prepare_load(thread_id)
        have = await adapter.load(handle)
        turns = -(-(wl.large_items - have) // ITEMS_PER_TURN)
        add_items = getattr(handle, "add_items", None)
        if add_items is not None:
            last = (await handle.get_items())[-ITEMS_PER_TURN:]
            await add_items([_fresh_ids(item, n) for n in range(turns) for item in last])
        elif fw.kind in ("threadline", "variant"):
            for _ in range(turns):
                await adapter.turn(thread_id, USER_TEXT)
        else:
            return None
    finally:
        await adapter.close()
    items, loads = await _time_loads(fw, path, thread_id, wl.large_load_samples)
    return {"items_loaded": items, "load_ms": stats_ms(loads)}


ITEMS_PER_TURN = 4  # user message, tool call, tool result, answer


def _fresh_ids(item: Any, n: int) -> Any:
    if not isinstance(item, dict) or "call_id" not in item:
        return item
    return {**item, "call_id": f"{item['call_id']}_{n}"}


async def stream_phase(fw: Framework, wl: Workload, folder: Path) -> dict[str, Any]:
    """One turn whose answer streams `stream_deltas` deltas: events the consumer gets per s."""
    path = folder / "stream.db"
    adapter = fw.factory(path)
    await adapter.open()
    samples: list[tuple[float, int]] = []
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        await _warm_up(adapter, wl.warmup_turns)
        adapter.set_answer_deltas(wl.stream_deltas)
        for _ in range(wl.stream_samples):
            thread_id = await adapter.new_thread()
            gc.collect()
            samples.append(await _timed_turn(adapter, thread_id))
    finally:
        await adapter.close()
    rates = sorted(events / seconds for seconds, events in samples)
    return {
        "deltas": wl.stream_deltas,
        "events": samples[-1][1],
        "seconds": statistics.median(s for s, _ in samples),
        "events_per_s": statistics.median(rates),
    }


async def concurrent_phase(fw: Framework, wl: Workload, folder: Path) -> dict[str, Any]:
    """All N threads at once in one event loop, each running its M turns in order."""
    path = folder / "concurrent.db"
    adapter = fw.factory(path)
    await adapter.open()
    try:
        adapter.set_answer_deltas(wl.answer_deltas)
        await _warm_up(adapter, wl.warmup_turns)
        thread_ids = [await adapter.new_thread() for _ in range(wl.threads)]

        async def drive(thread_id: str) -> None:
            for _ in range(wl.turns):
                await adapter.turn(thread_id, USER_TEXT)

        gc.collect()
        start = time.perf_counter()
        await asyncio.gather(*(drive(t) for t in thread_ids))
        seconds = time.perf_counter() - start
    finally:
        await adapter.close()
    turns = wl.threads * wl.turns
    return {"turns": turns, "seconds": seconds, "turns_per_s": turns / seconds}


PHASES = {
    "sequential": sequential_phase,
    "long": long_thread_phase,
    "stream": stream_phase,
    "concurrent": concurrent_phase,
}


async def measure(
    fw: Framework, wl: Workload, folder: Path, phases: tuple[str, ...] = tuple(PHASES)
) -> dict[str, Any]:
    """Every phase for one framework, in its own folder; a failing phase is recorded, and the
    others still run."""
    result: dict[str, Any] = {
        "name": fw.name,
        "kind": fw.kind,
        "notes": list(fw.notes),
        "errors": {},
    }
    started = time.perf_counter()
    probes = [disk_probe(folder)]
    for phase in phases:
        gc.collect()
        phase_folder = folder / phase
        phase_folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            result[phase] = await PHASES[phase](fw, wl, phase_folder)
        except Exception as exc:
            result["errors"][phase] = f"{type(exc).__name__}: {exc}"
            result["errors"][phase + "_traceback"] = traceback.format_exc(limit=8)
        result.setdefault("phase_seconds", {})[phase] = time.perf_counter() - t0
    probes.append(disk_probe(folder))
    result["disk_commit_ms"] = probes
    result["seconds"] = time.perf_counter() - started
    return result


def environment() -> dict[str, Any]:
    import platform
    import sys
    from importlib import metadata

    versions: dict[str, str | None] = {}
    for dist in (
        "threadline",
        "langgraph",
        "langgraph-checkpoint-sqlite",
        "langgraph-checkpoint-postgres",
        "langchain-core",
        "openai-agents",
        "pydantic-ai-slim",
        "pydantic",
        "aiosqlite",
        "psycopg",
        "psycopg-pool",
        "openai",
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        import threadline

        versions["threadline"] = versions["threadline"] or threadline.__version__
    except ImportError:
        pass
    git: dict[str, Any] = {}
    try:
        import subprocess

        root = Path(__file__).resolve().parent.parent
        run = {"cwd": root, "capture_output": True, "text": True, "timeout": 10}
        git["commit"] = subprocess.run(["git", "rev-parse", "HEAD"], **run).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "src"], **run).stdout
        git["src_modified"] = bool(status.strip())
    except Exception:
        pass
    return {
        "git": git,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
    }


def workload_dict(wl: Workload) -> dict[str, Any]:
    return asdict(wl)
