"""SIGKILL while a child thread (a subagent) runs, then a fresh process recovers: the child
restarts its cut-off step, the parent resumes when the child ends, and there is exactly one
child."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.testing import check_invariants
from threadline.types import ToolResult

pytestmark = pytest.mark.slow

APP = Path(__file__).with_name("subagent_app.py")
SRC = Path(__file__).parents[2] / "src"


@dataclass
class Tree:
    store: str
    folder: Path

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(APP), self.store, str(self.folder), *args],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def lines(self, name: str) -> list[str]:
        path = self.folder / name
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(params=BACKENDS)
async def tree(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Tree]:
    if request.param == "sqlite":
        yield Tree(str(tmp_path / "tree.db"), tmp_path)
        return
    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield Tree(f"{url}?schema={schema}", tmp_path)
    await drop_schema(url, schema)


async def test_killed_while_the_child_runs_the_tree_finishes_with_one_child(tree: Tree) -> None:
    process = tree.start("run", env={"WORKER_SECONDS": "60"})
    deadline = time.monotonic() + 30
    while not tree.lines("worker_requests.txt"):
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL

    recovery = tree.start("recover")
    _, stderr = recovery.communicate(timeout=90)
    assert recovery.returncode == 0, stderr[-3000:]

    async with tl.open_store(tree.store) as store:  # type: ignore[attr-defined]
        assert await check_invariants(store) == []
        threads = (await store.list_threads(limit=10)).threads
        (parent,) = [t for t in threads if t.parent_id is None]
        (child,) = await store.list_children(parent.thread_id)  # spawned once
        assert len(threads) == 2
        assert child.reference_id == "call_worker"
        (child_turn,) = await store.list_turns(child.thread_id)
        assert child_turn.status == "completed"
        (parent_turn,) = await store.list_turns(parent.thread_id)
        assert parent_turn.status == "completed"
        items = await store.load_items(parent.thread_id)
        (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
        assert (result.output, result.outcome) == ("found it", "success")
        assert items[-1].text == "Done: found it"
    # The child's cut-off model step ran again, in the recovering process.
    first, second = tree.lines("worker_requests.txt")
    assert first != second
