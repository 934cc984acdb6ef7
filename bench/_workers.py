"""Worker processes on PostgreSQL: one API process (`run_turns=False`) stores turns and streams
their events from the store; 1, 2, 4... `threadline worker` processes run them.

Measured for each worker count, on a schema of its own:
- turns one at a time through the workers (light load): turn latency as the API process sees
  it, and event delivery latency;
- all threads at once, each running its turns in order: turns/s, turn latency, delivery
  latency under load, and who used the CPU meanwhile.

Delivery latency of an event = the moment the API process's `run_streamed` consumer receives
it (time.time()) - the `created_at` of the first item its write stored (the write keeps its
events beside that item), which the worker takes (time.time(), same host, same clock) just
before it submits the write; the write itself, its commit, the NOTIFY, the follower's wake-up
and its read of the event log all count. Events the API process stored itself (`turn_started`
and the user's message, written by `begin_turn`) are left out, and so are the few events of
writes that store no item (they carry no time).

Every stored event of the measured turns is also checked off against what the consumers
received: a stream that misses events (or ends without `completed`/`failed`/`cancelled`) is
counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

import threadline as tl

from . import _pg
from . import _workload as w
from ._worker_app import MODEL_SECONDS_ENV, agents

REPO = Path(__file__).resolve().parent.parent
READY = "worker on "  # what `threadline worker` prints on stderr once its app is open
LATE_S = 0.5  # a delivery slower than this is counted as late (the safety poll is 1 s)
# A turn slower than this waited for a lease to expire (30 s, `threadline worker`'s default)
# after its worker gave the turn up: the runs themselves last a few seconds.
STALL_S = 20.0
HISTOGRAM_MS = (10, 50, 100, 250, 500, 900, 1100)  # bucket upper bounds (the poll is 1 s)
LOST_LEASE = "lost the lease"  # what a worker logs when its heartbeat gives a turn up


@dataclass(frozen=True)
class PgWorkload:
    threads: int = 100
    turns: int = 3
    workers: tuple[int, ...] = (1, 2, 4)
    concurrency: int = 16  # turns each worker process runs at once (`--concurrency`)
    light_turns: int = 40  # turns one at a time through the workers
    warmup_turns: int = 6
    model_seconds: float = 0.0  # how long the model takes per step
    # The I/O-bound series: a model that waits `io_model_seconds` per step, as real models do,
    # and workers that run `io_concurrency` turns each, so that the work is waiting, not CPU.
    io_model_seconds: float = 0.1
    io_concurrency: int = 4

    @classmethod
    def quick(cls) -> PgWorkload:
        return cls(threads=30, turns=2, light_turns=15, warmup_turns=4)


def workload_dict(pw: PgWorkload) -> dict[str, Any]:
    return asdict(pw)


# -- worker processes ------------------------------------------------------------------------


class WorkerProcesses:
    """`count` processes of `threadline worker` on `db`, each logging to a file in `folder`."""

    def __init__(
        self, db: str, count: int, concurrency: int, folder: Path, model_seconds: float = 0.0
    ) -> None:
        self.db = db
        self.count = count
        self.concurrency = concurrency
        self.model_seconds = model_seconds
        self.folder = folder
        self.processes: list[asyncio.subprocess.Process] = []
        self.logs: list[Path] = []
        self._files: list[IO[bytes]] = []

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def _env(self) -> dict[str, str]:
        # The threadline this process imported, and the repository root (for `bench`).
        src = str(Path(tl.__file__).resolve().parent.parent)
        path = [src, str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(path),
            MODEL_SECONDS_ENV: str(self.model_seconds),
        }

    async def start(self, within: float = 120.0) -> None:
        env = self._env()
        for n in range(self.count):
            log = self.folder / f"worker-{n}.log"
            out = log.open("wb")
            self.logs.append(log)
            self._files.append(out)
            self.processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "threadline.cli",
                    "--db",
                    self.db,
                    "--app",
                    "bench._worker_app:agents",
                    "--model",
                    "py:bench._worker_app:model",
                    "worker",
                    "--concurrency",
                    str(self.concurrency),
                    env=env,
                    cwd=str(REPO),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=out,
                )
            )
        deadline = time.monotonic() + within
        waiting = set(range(self.count))
        while waiting:
            for n in list(waiting):
                if READY in self.logs[n].read_text(errors="replace"):
                    waiting.discard(n)
                elif self.processes[n].returncode is not None:
                    raise RuntimeError(f"worker {n} exited at start: {self.log_tail(n)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {within:.0f} s")
            await asyncio.sleep(0.05)

    def log_tail(self, n: int, chars: int = 600) -> str:
        return self.logs[n].read_text(errors="replace")[-chars:].strip()

    async def stop(self, within: float = 30.0) -> list[int | None]:
        """SIGTERM each worker, wait for it (SIGKILL after `within` s); their exit codes."""
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        codes: list[int | None] = []
        for process in self.processes:
            try:
                codes.append(await asyncio.wait_for(process.wait(), within))
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                codes.append(await process.wait())
        for out in self._files:
            out.close()
        return codes


# -- the API process's side ------------------------------------------------------------------


Received = tuple[str, int, float]  # thread_id, seq, time.time() when the consumer got it
# (thread, seq) -> when its write was made (None: unknown), its turn
Stored = dict[tuple[str, int], tuple[float | None, str | None]]


@dataclass
class StreamLog:
    """What the API process's consumers received."""

    received: list[Received] = field(default_factory=list[Received])  # events of workers
    seen: set[tuple[str, int]] = field(default_factory=set[tuple[str, int]])  # every event
    turns: set[str] = field(default_factory=set[str])
    unended: int = 0  # streams that stopped without a terminal event


async def _turn(thread: tl.Thread, log: StreamLog) -> tuple[float, str]:
    """One turn streamed from the store; (seconds, status)."""
    start = time.perf_counter()
    stream = thread.run_streamed(w.USER_TEXT)
    ended = False
    async for event in stream:
        now = time.time()
        log.seen.add((event.thread_id, event.seq))
        ended = event.is_terminal
        if event.type == "turn_started":
            if event.turn_id is not None:
                log.turns.add(event.turn_id)
            continue
        item = event.params.get("item")
        if isinstance(item, dict) and item.get("type") == "user_message":
            continue  # stored by this process's begin_turn, not by a worker
        log.received.append((event.thread_id, event.seq, now))
    log.unended += not ended
    return time.perf_counter() - start, stream.result.status


async def _stored(url: str, schema: str) -> Stored:
    """Every stored event, read from the blocks of the log (see `threadline.store._event_log`):
    on the first item of their write, or in the events table for writes without items."""
    from threadline.store._compact import unpack_id
    from threadline.store._event_log import block_entries, block_turn

    tables = {n: sql.Identifier(schema, n) for n in ("threads", "turns", "items", "events")}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            sql.SQL(
                "SELECT th.thread_id, t.number, t.turn_id FROM {turns} t JOIN {threads} th "
                "ON th.tkey = t.tkey"
            ).format(**tables)
        )
        turns = {(r[0], r[1]): unpack_id("turn", r[2]) for r in await cur.fetchall()}
        cur = await conn.execute(
            sql.SQL(
                "SELECT th.thread_id, i.event_seq, i.events, i.created_at, i.turn FROM {items} i "
                "JOIN {threads} th ON th.tkey = i.tkey WHERE i.event_seq IS NOT NULL "
                "UNION ALL SELECT th.thread_id, e.seq, e.events, NULL, e.turn FROM {events} e "
                "JOIN {threads} th ON th.tkey = e.tkey"
            ).format(**tables)
        )
        blocks = await cur.fetchall()
    stored: Stored = {}
    for thread_id, first, text, created_at, default in blocks:
        number, entries = block_turn(block_entries(text), default)
        turn_id = None if number is None else turns.get((thread_id, number))
        for offset in range(len(entries)):
            stored[(thread_id, first + offset)] = (created_at, turn_id)
    return stored


def delivery(log: StreamLog, stored: Stored) -> dict[str, Any]:
    """Delivery latency per event and per write (a write's events share its `created_at`; a
    write is delivered when its first event is); and the stored events of these turns that
    no consumer received."""
    per_event: list[float] = []
    per_write: dict[tuple[str, float], float] = {}
    for thread_id, seq, at in log.received:
        created, _ = stored[(thread_id, seq)]
        if created is None:
            continue
        latency = at - created
        per_event.append(latency)
        key = (thread_id, created)
        per_write[key] = min(per_write.get(key, latency), latency)
    writes = list(per_write.values())
    missing = [
        turn for key, (_, turn) in stored.items() if turn in log.turns and key not in log.seen
    ]
    histogram: dict[str, int] = {}
    for x in writes:
        bound = next((b for b in HISTOGRAM_MS if x * 1000 < b), None)
        label = f"<{bound}" if bound is not None else f">={HISTOGRAM_MS[-1]}"
        histogram[label] = histogram.get(label, 0) + 1
    return {
        "events_ms": w.stats_ms(per_event),
        "writes_ms": w.stats_ms(writes),
        "writes_histogram_ms": {
            label: histogram.get(label, 0)
            for label in [*(f"<{b}" for b in HISTOGRAM_MS), f">={HISTOGRAM_MS[-1]}"]
        },
        "late_writes": sum(1 for x in writes if x > LATE_S),
        "late_limit_ms": LATE_S * 1000,
        "missing_events": len(missing),
        "turns_missing_events": len(set(missing)),
        "streams_without_end": log.unended,
    }


def stalls(times: Sequence[float], ends: Sequence[float], start: float) -> dict[str, Any]:
    """Turns slower than STALL_S, and the throughput of the others: the turns that did not
    stall over the time until the last of them ended."""
    ok = [end for seconds, end in zip(times, ends, strict=True) if seconds <= STALL_S]
    stalled = [seconds for seconds in times if seconds > STALL_S]
    return {
        "stalled": len(stalled),
        "stalled_s": sorted(stalled),
        "turns_per_s_without_stalled": (len(ok) / (max(ok) - start) if ok and stalled else None),
    }


async def _light(app: tl.Threadline, pw: PgWorkload) -> tuple[list[float], StreamLog, int]:
    """Turns one at a time (a new thread every `turns` turns)."""
    times: list[float] = []
    log = StreamLog()
    failed = 0
    thread: tl.Thread | None = None
    for n in range(pw.light_turns):
        if thread is None or n % pw.turns == 0:
            thread = await app.threads.start(user_id="bench")
        seconds, status = await _turn(thread, log)
        times.append(seconds)
        failed += status != "completed"
    return times, log, failed


async def _concurrent(
    app: tl.Threadline, pw: PgWorkload, cpu: _pg.CpuSample
) -> tuple[float, list[float], StreamLog, int, dict[str, Any]]:
    """All threads at once, each running its turns in order."""
    threads = [await app.threads.start(user_id="bench") for _ in range(pw.threads)]
    times: list[float] = []
    ends: list[float] = []
    log = StreamLog()
    failed = 0

    async def drive(thread: tl.Thread) -> None:
        nonlocal failed
        for _ in range(pw.turns):
            seconds, status = await _turn(thread, log)
            times.append(seconds)
            ends.append(time.perf_counter())
            failed += status != "completed"

    gc.collect()
    cpu.start()
    start = time.perf_counter()
    await asyncio.gather(*(drive(t) for t in threads))
    seconds = time.perf_counter() - start
    cpu.stop()
    return seconds, times, log, failed, stalls(times, ends, start)


async def run_workers(
    url: str, count: int, pw: PgWorkload, folder: Path, keep: bool
) -> dict[str, Any]:
    """One worker count on a fresh schema (dropped afterwards unless `keep`)."""
    schema = _pg.new_schema(f"w{count}")
    db = _pg.store_url(url, schema)
    result: dict[str, Any] = {"workers": count, "concurrency": pw.concurrency, "schema": schema}
    workers = WorkerProcesses(db, count, pw.concurrency, folder, pw.model_seconds)
    app = tl.Threadline(agents=agents, store=db, run_turns=False)
    try:
        await app.open()  # creates the schema and its tables before the workers look at it
        await workers.start()
        warm = await app.threads.start(user_id="bench")
        for _ in range(pw.warmup_turns):
            await _turn(warm, StreamLog())

        if pw.light_turns:
            times, log, failed = await _light(app, pw)
            stored = await _stored(url, schema)
            result["light"] = {
                "turns": len(times),
                "failed": failed,
                "stalled": sum(1 for t in times if t > STALL_S),
                "turn_ms": w.stats_ms(times),
                "delivery": delivery(log, stored),
            }

        cpu = _pg.CpuSample(workers=workers.pids)
        seconds, times, log, failed, stalled = await _concurrent(app, pw, cpu)
        stored = await _stored(url, schema)
        turns = len(times)
        result["concurrent"] = {
            "threads": pw.threads,
            "turns": turns,
            "failed": failed,
            "seconds": seconds,
            "turns_per_s": turns / seconds,
            **stalled,
            "turn_ms": w.stats_ms(times),
            "delivery": delivery(log, stored),
            "cpu_seconds": cpu.result,
            "cpu_ms_per_turn": (
                None
                if cpu.result is None
                else {
                    k: v * 1000 / turns
                    for k, v in cpu.result.items()
                    if k in ("api", "workers", "postgres", "other")
                }
            ),
        }
    finally:
        codes = await workers.stop()
        result["worker_exit_codes"] = codes
        result["lost_leases"] = sum(
            log.read_text(errors="replace").count(LOST_LEASE) for log in workers.logs
        )
        if any(code not in (0, None) for code in codes):
            result["worker_log_tail"] = [workers.log_tail(n) for n in range(len(codes))]
        await app.close()
        if not keep:
            await _pg.drop_schema(url, schema)
    return result


def scaling(runs: Sequence[dict[str, Any]], without_stalled: bool = False) -> dict[str, float]:
    """turns/s of each worker count relative to the smallest count (normally 1 worker);
    `without_stalled`: of the turns that did not stall, where some did."""

    def rate(c: dict[str, Any]) -> float:
        return (without_stalled and c.get("turns_per_s_without_stalled")) or c["turns_per_s"]

    rates = {r["workers"]: rate(r["concurrent"]) for r in runs if "concurrent" in r}
    if not rates:
        return {}
    base = rates[min(rates)]
    return {str(k): v / base for k, v in rates.items()}
