"""Worker processes on one store: a dead worker's turn is finished by another; SIGTERM lets
running turns finish or hands them back."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from worker_harness import api, ledger_lines

from threadline.testing import check_invariants, eventually

pytestmark = pytest.mark.slow


async def test_two_workers_share_the_work(store_url: str, start_worker: object) -> None:
    workers = [start_worker(), start_worker()]  # type: ignore[operator]
    async with api(store_url) as app:
        threads = [await app.threads.start() for _ in range(8)]
        results = await asyncio.gather(*(t.run(f"hello {n}") for n, t in enumerate(threads)))
        assert [r.text for r in results] == [f"echo hello {n}" for n in range(8)]
        assert await check_invariants(app.store) == []
    assert all(w.poll() is None for w in workers)


async def test_a_killed_workers_turn_is_finished_by_another(
    store_url: str, ledger: Path, start_worker: object
) -> None:
    first = start_worker()  # type: ignore[operator]
    async with api(store_url) as app:
        thread = await app.threads.start()
        running = asyncio.create_task(thread.run("work 30"))
        await eventually(lambda: ledger_lines(ledger), within=30)
        first.kill()  # SIGKILL inside the tool
        start_worker()  # type: ignore[operator]

        result = await asyncio.wait_for(running, 60)

        assert result.status == "completed"
        runs = ledger_lines(ledger)
        assert len(runs) == 2
        assert runs[0][1] == runs[1][1]
        assert runs[0][0] != runs[1][0]
        assert await check_invariants(app.store) == []


async def test_sigterm_hands_back_a_long_turn_and_another_worker_continues(
    store_url: str, ledger: Path, start_worker: object
) -> None:
    first = start_worker("--grace", "0.2")  # type: ignore[operator]
    async with api(store_url) as app:
        thread = await app.threads.start()
        running = asyncio.create_task(thread.run("work 20"))
        await eventually(lambda: ledger_lines(ledger), within=30)
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=30)
        assert first.returncode == 0, stderr
        assert "handing back" in stderr
        start_worker()  # type: ignore[operator]

        result = await asyncio.wait_for(running, 60)

        assert result.status == "completed"
        assert await check_invariants(app.store) == []
