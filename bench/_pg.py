"""PostgreSQL plumbing for the `postgres` phase: schemas of the run's own, a commit probe, the
server's settings, table sizes, and a CPU sampler (who used the machine's cores)."""

from __future__ import annotations

import os
import secrets
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def default_url() -> str:
    return os.environ.get("BENCH_PG_URL", DEFAULT_URL)


def new_schema(label: str) -> str:
    return f"tl_bench_{label}_{secrets.token_hex(4)}"


def with_query(url: str, **params: str) -> str:
    """`url` with these query parameters added (or replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


def store_url(url: str, schema: str) -> str:
    """What `Threadline(store=...)` and `threadline --db` take: the URL naming the schema."""
    return with_query(url, schema=schema)


async def create_schema(url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


async def drop_schema(url: str, schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


async def schema_bytes(url: str, schema: str) -> int:
    """Heap + indexes + TOAST of every table in `schema` (page-granular)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'",
            (schema,),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def server_info(url: str) -> dict[str, Any]:
    """The settings that decide what a commit costs, and the server's version."""
    names = (
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "shared_buffers",
        "max_connections",
    )
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        info: dict[str, Any] = {}
        for name in names:
            cur = await conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name)))
            row = await cur.fetchone()
            info[name] = row[0] if row else None
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
        row = await cur.fetchone()
        info["client_connections_at_start"] = int(row[0]) if row else None
    return info


async def commit_probe(url: str, commits: int = 40) -> float:
    """Median ms of a one-row INSERT committed on its own (autocommit): a round trip plus a WAL
    flush, the floor under every durable write on this server right now."""
    schema = new_schema("probe")
    await create_schema(url, schema)
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            table = sql.Identifier(schema, "t")
            await conn.execute(sql.SQL("CREATE TABLE {} (v text)").format(table))
            insert = sql.SQL("INSERT INTO {} VALUES (%s)").format(table)
            times: list[float] = []
            for _ in range(commits):
                start = time.perf_counter()
                await conn.execute(insert, ("x" * 200,))
                times.append(time.perf_counter() - start)
    finally:
        await drop_schema(url, schema)
    return statistics.median(times) * 1000


# -- CPU accounting (Linux /proc; None elsewhere) --------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process so far."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _machine() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, over every core."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in line[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    total = sum(values)
    return (total - idle) / _TICK, total / _TICK


@dataclass
class CpuSample:
    """CPU seconds used between `start()` and `stop()`, split by who used them."""

    workers: list[int] = field(default_factory=list[int])
    _start: dict[str, Any] = field(default_factory=dict[str, Any])
    result: dict[str, float] | None = None

    def _snapshot(self) -> dict[str, Any]:
        return {
            "api": _proc_cpu(os.getpid()),
            "workers": {pid: _proc_cpu(pid) for pid in self.workers},
            "postgres": {pid: _proc_cpu(pid) for pid in _postgres_pids()},
            "machine": _machine(),
            "wall": time.perf_counter(),
        }

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> dict[str, float] | None:
        """{api, workers, postgres, other, idle, wall} CPU seconds over the interval (postgres:
        every `postgres` process, including other clients' backends and the server's own)."""
        end = self._snapshot()
        begin = self._start
        if begin.get("machine") is None or end["machine"] is None or begin["api"] is None:
            return None

        def delta(group: str) -> float:
            total = 0.0
            for pid, after in end[group].items():
                if after is not None:
                    total += after - (begin[group].get(pid) or 0.0)
            return total

        busy = end["machine"][0] - begin["machine"][0]
        total = end["machine"][1] - begin["machine"][1]
        api = end["api"] - begin["api"]
        workers = delta("workers")
        postgres = delta("postgres")
        self.result = {
            "wall": end["wall"] - begin["wall"],
            "cores": os.cpu_count() or 1,
            "api": api,
            "workers": workers,
            "postgres": postgres,
            "other": max(0.0, busy - api - workers - postgres),
            "idle": max(0.0, total - busy),
        }
        return self.result
