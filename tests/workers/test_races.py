"""Several processes on one store: one claim wins, a wrong clock changes nothing, input from
many senders is stored once each and run in each sender's order, and a worker whose database
connection is killed carries on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from worker_harness import REPO, api, ledger_lines

import threadline as tl
from threadline.testing import check_invariants, eventually

pytestmark = pytest.mark.slow

DRIVER = Path(__file__).with_name("driver.py")


def spawn(*args: str, ledger: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "WORKER_LEDGER": str(ledger),
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO), str(DRIVER.parent)]),
    }
    return subprocess.Popen(
        [sys.executable, str(DRIVER), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_eight_processes_race_for_one_turn_and_exactly_one_runs_it(
    store_url: str, ledger: Path
) -> None:
    async with api(store_url) as app:
        thread = await app.threads.start()
        stream = thread.run_streamed("work 0.5")
        first = await stream.__anext__()  # stored, waiting for a worker
        assert first.type == "turn_started"
        racers = [spawn(store_url, "claim", ledger=ledger) for _ in range(8)]
        outputs = [r.communicate(timeout=60) for r in racers]
        assert all(r.returncode == 0 for r in racers), [o[1][-500:] for o in outputs]
        async for _ in stream:
            pass

        assert sorted(int(out) for out, _ in outputs) == [0] * 7 + [1]
        assert len(ledger_lines(ledger)) == 1
        assert stream.result.text == "done: worked 0.5s"
        assert await check_invariants(app.store) == []


async def test_a_worker_with_a_skewed_clock_cannot_steal_a_lease(
    store_url: str, ledger: Path, start_worker: object
) -> None:
    honest = start_worker()  # type: ignore[operator]
    async with api(store_url) as app:
        thread = await app.threads.start()
        running = asyncio.create_task(thread.run("work 3"))
        await eventually(lambda: ledger_lines(ledger), within=30)
        skewed = start_worker(env={"WORKER_CLOCK_SKEW": "3600"})  # type: ignore[operator]

        result = await asyncio.wait_for(running, 60)

        assert result.status == "completed"
        assert {pid for pid, _ in ledger_lines(ledger)} == {str(honest.pid)}
        assert skewed.poll() is None
        assert await check_invariants(app.store) == []


async def test_inputs_from_several_processes_are_stored_once_and_run_in_order(
    store_url: str, ledger: Path, start_worker: object
) -> None:
    start_worker()  # type: ignore[operator]
    async with api(store_url) as app:
        thread = await app.threads.start()
        busy = asyncio.create_task(thread.run("work 1"))
        await eventually(lambda: ledger_lines(ledger), within=30)
        senders = [
            spawn(store_url, "submit", thread.id, f"sender{s}", "5", ledger=ledger)
            for s in range(4)
        ]
        for sender in senders:
            _, stderr = sender.communicate(timeout=60)
            assert sender.returncode == 0, stderr[-1000:]
        await busy

        async def all_ran() -> list[tl.TurnRecord] | None:
            turns = await thread.turns()
            return turns if len(turns) == 21 and all(t.is_final for t in turns) else None

        try:
            turns = await eventually(all_ran, within=60)
        except AssertionError:
            record = await thread.reload()
            stuck = [
                (t.number, t.status, t.input[0]["text"])
                for t in await thread.turns()
                if not t.is_final
            ]
            raise AssertionError(
                f"stuck: {record.active_turn_id} lease={record.lease_owner} "
                f"wake={record.wake_at} turns={stuck} "
                f"inbox={len(await thread.inbox())}"
            ) from None
        inputs = [t.input[0]["text"] for t in turns[1:]]
        assert sorted(inputs) == sorted(f"sender{s} {n}" for s in range(4) for n in range(5))
        for s in range(4):
            mine = [int(text.split()[1]) for text in inputs if text.startswith(f"sender{s} ")]
            assert mine == sorted(mine)
        assert await check_invariants(app.store) == []


async def test_a_worker_whose_connections_are_killed_finishes_the_turn(
    store_url: str, ledger: Path, start_worker: object
) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    import psycopg

    start_worker()  # type: ignore[operator]
    async with api(store_url) as app:
        thread = await app.threads.start()
        running = asyncio.create_task(thread.run("work 2"))
        await eventually(lambda: ledger_lines(ledger), within=30)
        base = store_url.split("?")[0]
        async with await psycopg.AsyncConnection.connect(base, autocommit=True) as conn:
            killed = await (
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND pid <> pg_backend_pid() AND application_name = "
                    "'tl_worker'"
                )
            ).fetchall()
        assert any(row[0] for row in killed)

        result = await asyncio.wait_for(running, 60)

        assert result.status == "completed"
        assert len(ledger_lines(ledger)) == 1  # no step ran twice
        assert await check_invariants(app.store) == []
