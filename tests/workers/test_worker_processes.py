"""Worker processes on one store: a dead worker's turn is finished by another; SIGTERM lets
running turns finish or hands them back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.testing import check_invariants, eventually

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger.txt"


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[str]:
    """What `--db` names: a SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        yield str(db_path)
        return
    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield f"{url}?schema={schema}"
    await drop_schema(url, schema)


@pytest.fixture
def start_worker(store_url: str, ledger: Path) -> Iterator[object]:
    started: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> subprocess.Popen[str]:
        env = {**os.environ, "WORKER_LEDGER": str(ledger),
               "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
        process = subprocess.Popen(
            [sys.executable, "-m", "threadline.cli", "--db", store_url,
             "--app", "tests.workers.worker_app:agents",
             "--model", "py:tests.workers.worker_app:model", "worker", "--lease", "1",
             "--concurrency", "4", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def api(store_url: str) -> tl.Threadline:
    from worker_app import agents

    return tl.Threadline(agents=agents, store=store_url, run_turns=False)


def ledger_lines(ledger: Path) -> list[tuple[str, str]]:
    if not ledger.exists():
        return []
    return [tuple(line.split()) for line in ledger.read_text().splitlines()]  # type: ignore[misc]


async def test_two_workers_share_the_work(store_url: str, start_worker: object) -> None:
    workers = [start_worker(), start_worker()]  # type: ignore[operator]
    async with api(store_url) as app:
        threads = [await app.threads.start() for _ in range(8)]
        results = await asyncio.gather(*(t.run(f"hello {n}") for n, t in enumerate(threads)))
        assert [r.text for r in results] == [f"echo hello {n}" for n in range(8)]
        assert await check_invariants(app.store) == []
    assert all(w.poll() is None for w in workers)


async def test_a_killed_workers_turn_is_finished_by_another(store_url: str, ledger: Path,
                                                            start_worker: object) -> None:
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
        store_url: str, ledger: Path, start_worker: object) -> None:
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
