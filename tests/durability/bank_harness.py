"""Drives bank_app.py in subprocesses and reads the store it leaves."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import threadline as tl
from threadline.runtime._tracing import read_trace
from threadline.testing import check_invariants
from threadline.types import ToolResult

BANK_APP = Path(__file__).with_name("bank_app.py")
SRC = Path(__file__).parents[2] / "src"


@dataclass
class Bank:
    """Runs bank_app.py in fresh processes against one database, and reads what is left."""

    store: str  # a SQLite path or a PostgreSQL URL
    folder: Path  # where the fake service keeps its ledger

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        environment = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
        return subprocess.Popen(
            [sys.executable, str(BANK_APP), self.store, str(self.folder), *args],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        process = self.start(*args, env=env)
        stdout, stderr = process.communicate(timeout=60)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def killed(self, *args: str) -> None:
        result = self.run(*args)
        assert result.returncode == -signal.SIGKILL, (result.returncode, result.stderr[-2000:])

    def recovered(self) -> None:
        result = self.run("recover")
        assert result.returncode == 0, result.stderr[-3000:]

    def ledger(self) -> list[tuple[str, str]]:
        path = self.folder / "ledger.db"
        if not path.exists():
            return []
        conn = sqlite3.connect(path)
        return list(conn.execute("SELECT tool, key FROM ledger"))

    async def state(self) -> tuple[list[tl.TurnRecord], list[tl.Item]]:
        async with tl.open_store(self.store) as store:  # type: ignore[attr-defined]
            assert await check_invariants(store) == []
            page = await store.list_threads()
            (thread,) = page.threads
            return await store.list_turns(thread.thread_id), await store.load_items(
                thread.thread_id
            )

    async def steps(self) -> list[tl.StepRecord]:
        """The step records of the thread's only turn."""
        async with tl.open_store(self.store) as store:  # type: ignore[attr-defined]
            (thread,) = (await store.list_threads()).threads
            (turn,) = await store.list_turns(thread.thread_id)
            return await store.list_steps(thread.thread_id, turn.turn_id)

    async def spans(self) -> list[tl.SpanRecord]:
        """The trace spans of the thread's only turn."""
        async with tl.open_store(self.store) as store:  # type: ignore[attr-defined]
            (thread,) = (await store.list_threads()).threads
            (turn,) = await store.list_turns(thread.thread_id)
            return await read_trace(store, thread.thread_id, turn.turn_id, content=False)


def results(items: list[tl.Item]) -> list[ToolResult]:
    return [i.payload for i in items if isinstance(i.payload, ToolResult)]
