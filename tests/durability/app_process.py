"""An app script run in subprocesses by the crash tests: started with a store and a work folder,
killed or left to finish; the lines it writes to files in the folder are what it did."""

from __future__ import annotations

import asyncio
import faulthandler
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import threadline as tl
from threadline.testing import check_invariants
from threadline.types import ToolResult

SRC = Path(__file__).parents[2] / "src"


@dataclass
class AppProcess:
    app: Path  # the script: `python APP STORE FOLDER ARGS...`
    store: str
    folder: Path

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(self.app), self.store, str(self.folder), *args],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, process: subprocess.Popen[str]) -> tuple[int, str]:
        try:
            _, stderr = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()  # and read its pipes to the end, so none is left open
            _, stderr = process.communicate()
            raise AssertionError(f"the app script hung; it said:\n{stderr[-6000:]}") from None
        return process.returncode, stderr

    async def completed_results(self) -> tuple[str, dict[str, ToolResult]]:
        """The store's only thread has one turn, completed, and keeps its invariants: that
        turn's id, and its tool results by call id."""
        async with tl.open_store(self.store) as store:  # type: ignore[attr-defined]
            assert await check_invariants(store) == []
            (thread,) = (await store.list_threads()).threads
            (turn,) = await store.list_turns(thread.thread_id)
            assert turn.status == "completed"
            items = await store.load_items(thread.thread_id)
        results = {
            i.payload.tool_call_id: i.payload for i in items if isinstance(i.payload, ToolResult)
        }
        return turn.turn_id, results

    def lines(self, name: str) -> list[str]:
        path = self.folder / name
        return path.read_text().splitlines() if path.exists() else []


async def recover_until_settled(app: Any, seconds: float = 30) -> None:
    """Run recovery in the app script until every turn of every thread has ended, no input
    waits in an inbox, and nothing runs here; then say so on stdout."""
    _report_if_stuck(asyncio.get_running_loop(), seconds * 2)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await (await app.recover()).wait()
        threads = (await app.threads.list(limit=100)).threads
        turns = [t for thread in threads for t in await thread.turns()]
        inbox = [e for thread in threads for e in await thread.inbox()]
        if turns and all(t.is_final for t in turns) and not inbox and not app._engine.active:
            break
        await asyncio.sleep(0.05)
    print("recovered", flush=True)


def _report_if_stuck(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    """If the script still runs after `seconds`, print where each thread and each task is,
    so that a test that times out on it says why."""

    def dump_tasks() -> None:
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)

    def report() -> None:
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        loop.call_soon_threadsafe(dump_tasks)

    timer = threading.Timer(seconds, report)
    timer.daemon = True
    timer.start()


def script_main(make_app: Callable[..., Any], message: str) -> None:
    """The command line of an app script: `STORE DIR run [FAULT]` starts a thread (key
    "the-thread") and runs one turn on `message`, with the fault armed; `STORE DIR recover`
    recovers until every turn has ended."""
    from threadline.testing import FaultPoints

    store, folder, mode, *rest = sys.argv[1:]

    async def run() -> None:
        async with make_app(store, folder, FaultPoints.from_spec(rest[0] if rest else "")) as app:
            thread = await app.threads.start(key="the-thread")
            print((await thread.run(message)).status, flush=True)

    async def recover() -> None:
        async with make_app(store, folder) as app:
            await recover_until_settled(app)

    if mode == "run":
        asyncio.run(run())
    elif mode == "recover":
        asyncio.run(recover())
    else:
        raise SystemExit(f"unknown mode {mode}")
