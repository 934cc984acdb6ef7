"""`python -m bench --phases postgres`: threadline on PostgreSQL.

1. Per-turn overhead, sequential turns, in one process: threadline (`PostgresStore`, an app
   that runs its turns) next to LangGraph (`AsyncPostgresSaver`), the workload of the SQLite
   `sequential` phase.
2. Worker processes (see `_workers`): turns/s and turn latency with 1, 2, 4 `threadline
   worker` processes fed by one API process, and event delivery latency from a worker to the
   API process's `run_streamed` consumer.

Every run gets a schema of its own, dropped afterwards (unless --keep).
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import _pg
from . import _workers as workers
from . import _workload as w
from ._threadline import ThreadlineAdapter

PEERS = ("threadline", "langgraph")


def _counting_store(url: str, schema: str) -> Any:
    """`PostgresStore` counting a turn's write transactions and the time turns await them."""
    from threadline.store import BeginTurn, PostgresStore, TurnWrite

    class CountingPostgresStore(PostgresStore):
        commits = 0
        turn_write_seconds = 0.0

        async def begin_turn(self, request: BeginTurn) -> Any:
            self.commits += 1
            start = time.perf_counter()
            try:
                return await super().begin_turn(request)
            finally:
                self.turn_write_seconds += time.perf_counter() - start

        async def write_turn(self, write: TurnWrite) -> Any:
            self.commits += 1
            start = time.perf_counter()
            try:
                return await super().write_turn(write)
            finally:
                self.turn_write_seconds += time.perf_counter() - start

    return CountingPostgresStore(url, schema=schema)


def _threadline(url: str, schema: str) -> ThreadlineAdapter:
    return ThreadlineAdapter(Path(schema), store=_counting_store(url, schema))


def _langgraph(url: str, schema: str) -> Any:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow, dict_row

    from ._langgraph import LangGraphAdapter

    class LangGraphPostgresAdapter(LangGraphAdapter):
        """`AsyncPostgresSaver` on one connection set up as its `from_conn_string` does
        (autocommit, prepare_threshold=0, dict rows), its tables in the run's schema."""

        async def _saver(self) -> Any:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

            class CountingSaver(AsyncPostgresSaver):
                commits = 0

                async def aput(self, *args: Any, **kwargs: Any) -> Any:
                    self.commits += 1
                    return await super().aput(*args, **kwargs)

                async def aput_writes(self, *args: Any, **kwargs: Any) -> None:
                    self.commits += 1
                    await super().aput_writes(*args, **kwargs)

            self.conn = await AsyncConnection[DictRow].connect(
                url,
                autocommit=True,
                prepare_threshold=0,
                row_factory=dict_row,
                options=f"-c search_path={schema}",
            )
            saver = CountingSaver(self.conn)
            await saver.setup()
            return saver

    return LangGraphPostgresAdapter(Path(schema))


# Each returns an adapter (see `_workload.Adapter`) on a schema of `url`.
FACTORIES: dict[str, Callable[[str, str], Any]] = {
    "threadline": _threadline,
    "langgraph": _langgraph,
}
NAMES = {"threadline": "threadline", "langgraph": "LangGraph"}
NOTES = {
    "threadline": "PostgresStore (psycopg pool), one app running its turns; Thread.run_streamed",
    "langgraph": "create_react_agent + AsyncPostgresSaver (one autocommit connection, as "
    "from_conn_string opens it); astream(stream_mode='messages'); default durability "
    "('async')",
}


async def sequential(key: str, url: str, wl: w.Workload, keep: bool) -> dict[str, Any]:
    """N threads x M turns, one at a time, on a fresh schema: the SQLite `sequential` phase's
    workload; per-turn time, store writes per turn, bytes per turn."""
    schema = _pg.new_schema(key[:2])
    await _pg.create_schema(url, schema)
    adapter = FACTORIES[key](url, schema)
    try:
        await adapter.open()
        try:
            adapter.set_answer_deltas(wl.answer_deltas)
            thread_id = await adapter.new_thread()
            for _ in range(wl.warmup_turns):
                await adapter.turn(thread_id, w.USER_TEXT)
            base = await _pg.schema_bytes(url, schema)
            adapter.commits = 0
            store_start = getattr(adapter, "store_seconds", None)
            times: list[float] = []
            events: list[int] = []
            gc.collect()
            cpu = _pg.CpuSample()
            cpu.start()
            for _ in range(wl.threads):
                thread_id = await adapter.new_thread()
                for _ in range(wl.turns):
                    start = time.perf_counter()
                    events.append(await adapter.turn(thread_id, w.USER_TEXT))
                    times.append(time.perf_counter() - start)
            cpu.stop()
            commits = adapter.commits
            store_seconds = (
                None
                if store_start is None
                else getattr(adapter, "store_seconds", store_start) - store_start
            )
        finally:
            await adapter.close()
        turns = len(times)
        return {
            "name": NAMES[key],
            "schema": schema,
            "turns": turns,
            "turn_ms": w.stats_ms(times),
            "events_per_turn": sorted(events)[len(events) // 2],
            "store_writes_per_turn": commits / turns,
            "store_write_ms_per_turn": (
                None if store_seconds is None else store_seconds * 1000 / turns
            ),
            "bytes_per_turn": (await _pg.schema_bytes(url, schema) - base) / turns,
            # api: this process; postgres: the server; other: the rest of the machine
            "cpu_seconds": cpu.result,
            "notes": [NOTES[key]],
        }
    finally:
        if not keep:
            await _pg.drop_schema(url, schema)


async def run(
    wl: w.Workload,
    pw: workers.PgWorkload,
    url: str,
    keys: list[str],
    keep: bool = False,
) -> dict[str, Any]:
    """Every part of the phase; a failing part is recorded, the others still run."""
    started = time.perf_counter()
    result: dict[str, Any] = {
        "workload": workers.workload_dict(pw),
        "cores": os.cpu_count(),
        "errors": {},
        "part_seconds": {},
    }
    try:
        result["server"] = await _pg.server_info(url)
    except Exception as exc:
        result["errors"]["server"] = f"{type(exc).__name__}: {exc}"
        result["seconds"] = time.perf_counter() - started
        return result  # no server: nothing else can run
    probes = [await _pg.commit_probe(url)]

    result["sequential"] = []
    for key in (k for k in PEERS if k in keys):
        t0 = time.perf_counter()
        print(f"   per-turn, sequential: {NAMES[key]}", flush=True)
        try:
            result["sequential"].append(await sequential(key, url, wl, keep))
        except Exception as exc:
            result["errors"][f"sequential:{key}"] = f"{type(exc).__name__}: {exc}"
            result["errors"][f"sequential:{key}_traceback"] = traceback.format_exc(limit=8)
        result["part_seconds"][f"sequential:{key}"] = time.perf_counter() - t0

    io = replace(
        pw,
        model_seconds=pw.io_model_seconds,
        concurrency=pw.io_concurrency,
        light_turns=0,
        warmup_turns=1,
    )
    with tempfile.TemporaryDirectory(prefix="threadline-bench-workers-") as folder:
        for key, series in (("workers", pw), ("workers_io", io)):
            result[key] = []
            for count in pw.workers:
                t0 = time.perf_counter()
                print(
                    f"   {count} worker process(es), concurrency {series.concurrency} each, "
                    f"{series.model_seconds * 1000:.0f} ms model steps",
                    flush=True,
                )
                part = f"{key}:{count}"
                try:
                    result[key].append(
                        await workers.run_workers(url, count, series, Path(folder), keep)
                    )
                except Exception as exc:
                    result["errors"][part] = f"{type(exc).__name__}: {exc}"
                    result["errors"][f"{part}_traceback"] = traceback.format_exc(limit=8)
                result["part_seconds"][part] = time.perf_counter() - t0
    result["scaling"] = workers.scaling(result["workers"])
    result["scaling_without_stalled"] = workers.scaling(result["workers"], without_stalled=True)
    result["scaling_io"] = workers.scaling(result["workers_io"])
    probes.append(await _pg.commit_probe(url))
    result["commit_ms"] = probes
    result["seconds"] = time.perf_counter() - started
    return result
