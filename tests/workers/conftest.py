"""Worker processes and API apps on a store of the test's own (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from worker_harness import REPO

from store_backends import BACKENDS, drop_schema, postgres_url


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

    # On PostgreSQL, the workers' connections carry a name a test can find them by.
    db = store_url + "&application_name=tl_worker" if "?" in store_url else store_url

    def start(*extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        environment = {
            **os.environ,
            "WORKER_LEDGER": str(ledger),
            **(env or {}),
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "threadline.cli",
                "--db",
                db,
                "--app",
                "tests.workers.worker_app:agents",
                "--model",
                "py:tests.workers.worker_app:model",
                "worker",
                "--lease",
                "1",
                "--concurrency",
                "4",
                *extra,
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
