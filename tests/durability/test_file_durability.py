"""A tool's file changes are part of its call's durable record: a process SIGKILLed while the
tool runs, or right after it returned but before its result was stored, leaves none of them
behind. A tool that is not idempotent gets an "unknown" result; an idempotent one runs again,
and its changes are stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.testing import check_invariants, eventually
from threadline.types import ToolResult

pytestmark = pytest.mark.slow

FILES_APP = Path(__file__).with_name("files_app.py")
SRC = Path(__file__).parents[2] / "src"
UNTOUCHED = {"keep.txt": b"kept", "log.txt": b"start\n"}
CHANGED = {"draft/a.txt": b"drafted", "log.txt": b"start\ntool\n"}  # keep.txt deleted


@dataclass
class Files:
    store: str
    folder: Path

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(FILES_APP), self.store, str(self.folder), *args],
            env={**os.environ, "PYTHONPATH": str(SRC), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
        stdout, stderr = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def recovered(self) -> None:
        done = self.finish(self.start("recover"))
        assert done.returncode == 0, done.stderr[-3000:]

    async def state(self) -> tuple[list[tl.TurnRecord], list[ToolResult], dict[str, bytes]]:
        async with tl.open_store(self.store) as store:  # type: ignore[attr-defined]
            assert await check_invariants(store) == []
            (thread,) = (await store.list_threads()).threads
            items = await store.load_items(thread.thread_id)
            files = {
                f.path: found[1]
                for f in await store.list_files(thread.thread_id)
                if (found := await store.read_file(thread.thread_id, f.path)) is not None
            }
            results = [i.payload for i in items if isinstance(i.payload, ToolResult)]
            return await store.list_turns(thread.thread_id), results, files


@pytest.fixture(params=BACKENDS)
async def files(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Files]:
    if request.param == "sqlite":
        yield Files(str(tmp_path / "files.db"), tmp_path)
        return
    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield Files(f"{url}?schema={schema}", tmp_path)
    await drop_schema(url, schema)


# (scenario, the tool's result after recovery, the files left)
OUTCOMES = [("once", "unknown", UNTOUCHED), ("again", "success", CHANGED)]


@pytest.mark.parametrize(("scenario", "outcome", "left"), OUTCOMES, ids=["once", "again"])
async def test_sigkill_while_the_tool_runs_leaves_none_of_its_changes(
    files: Files, scenario: str, outcome: str, left: dict[str, bytes]
) -> None:
    process = files.start("run", "", scenario, env={"FILES_TOOL_SECONDS": "60"})
    marker = files.folder / "in_tool"
    await eventually(lambda: marker.exists() or process.poll() is not None, within=30)
    assert process.poll() is None, files.finish(process).stderr[-2000:]
    _, _, during = await files.state()
    assert during == UNTOUCHED  # the tool's changes are its own while it runs

    process.send_signal(signal.SIGKILL)
    assert files.finish(process).returncode == -signal.SIGKILL
    files.recovered()

    turns, results, stored = await files.state()
    assert [t.status for t in turns] == ["completed"]
    assert [r.outcome for r in results] == [outcome]
    assert stored == left


@pytest.mark.parametrize(("scenario", "outcome", "left"), OUTCOMES, ids=["once", "again"])
async def test_a_kill_after_the_tool_returned_but_before_its_result_is_stored(
    files: Files, scenario: str, outcome: str, left: dict[str, bytes]
) -> None:
    killed = files.finish(files.start("run", "before_tool_commit:kill", scenario))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert (files.folder / "in_tool").exists()  # the tool had made its changes
    _, _, before = await files.state()
    assert before == UNTOUCHED

    files.recovered()

    turns, results, stored = await files.state()
    assert [t.status for t in turns] == ["completed"]
    assert [r.outcome for r in results] == [outcome]
    assert stored == left
