"""The floor: a plain asyncio loop that commits each of a turn's 4 items in its own SQLite
transaction (WAL, synchronous=FULL), with no framework at all.

The SQLite calls run directly on the event-loop thread: nothing is cheaper per turn, and
nothing overlaps either (so its concurrent figure is just its sequential one).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from . import _workload as w
from ._workload import Framework


class BaselineAdapter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.commits = 0
        self.deltas = w.answer_deltas(50)
        self._seq: dict[str, int] = {}

    async def open(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS items (thread_id TEXT NOT NULL, "
            "seq INTEGER NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, "
            "PRIMARY KEY (thread_id, seq)) WITHOUT ROWID"
        )
        self.conn = conn

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def set_answer_deltas(self, n: int) -> None:
        self.deltas = w.answer_deltas(n)

    async def new_thread(self) -> str:
        thread_id = uuid.uuid4().hex
        self._seq[thread_id] = 0
        return thread_id

    def _commit(self, thread_id: str, kind: str, data: dict[str, Any]) -> None:
        assert self.conn is not None
        seq = self._seq.get(thread_id)
        if seq is None:
            seq = self.conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM items WHERE thread_id = ?", (thread_id,)
            ).fetchone()[0]
        seq += 1
        self._seq[thread_id] = seq
        self.conn.execute("BEGIN")
        self.conn.execute(
            "INSERT INTO items VALUES (?, ?, ?, ?)", (thread_id, seq, kind, json.dumps(data))
        )
        self.conn.execute("COMMIT")
        self.commits += 1

    async def _tool_call_step(self) -> AsyncIterator[dict[str, Any]]:
        yield {"call_id": w.new_call_id(), "name": w.TOOL_NAME, "arguments": w.TOOL_ARGS_JSON}

    async def _answer_step(self) -> AsyncIterator[str]:
        for delta in self.deltas:
            yield delta

    async def turn(self, thread_id: str, text: str) -> int:
        events = 0
        self._commit(thread_id, "user_message", {"text": text})
        events += 1
        calls = [call async for call in self._tool_call_step()]
        call = calls[0]
        self._commit(thread_id, "tool_call", call)
        events += 1
        output = await w.weather(**json.loads(call["arguments"]))
        self._commit(
            thread_id, "tool_result", {"call_id": call["call_id"], "output": json.dumps(output)}
        )
        events += 1
        parts: list[str] = []
        async for delta in self._answer_step():
            parts.append(delta)
            events += 1
        self._commit(thread_id, "agent_message", {"text": "".join(parts)})
        return events + 1

    async def prepare_load(self, thread_id: str) -> str:
        return thread_id

    async def load(self, handle: str) -> int:
        assert self.conn is not None
        rows = self.conn.execute(
            "SELECT type, data FROM items WHERE thread_id = ? ORDER BY seq", (handle,)
        ).fetchall()
        return len([(kind, json.loads(data)) for kind, data in rows])


def framework() -> Framework:
    return Framework(
        name="baseline (hand-written)",
        factory=BaselineAdapter,
        kind="baseline",
        notes=(
            "4 sqlite transactions per turn (one per item), synchronous=FULL, "
            "called on the loop thread; no framework",
        ),
    )
