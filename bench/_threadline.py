"""threadline: an app with one agent, a zero-latency `Model`, and `SQLiteStore` on a file."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import threadline as tl
from threadline.models import (
    ModelEvent,
    ModelRequest,
    ModelResponse,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
)
from threadline.store import BeginOutcome, BeginTurn, Store, TurnWrite, Written
from threadline.types import Usage

from . import _workload as w
from ._workload import Framework

_WAL_INDEX_HEADER = 48  # bytes: the first copy of the WAL index header


@tl.tool
async def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return await w.weather(city)


class BenchModel:
    """Zero latency: after a user message, one `get_weather` call; after the tool's result, an
    answer streamed as `answer_deltas` deltas."""

    name = "bench"

    def __init__(self) -> None:
        self.set_deltas(50)

    def set_deltas(self, n: int) -> None:
        self.deltas = w.answer_deltas(n)
        self.text = "".join(self.deltas)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        if request.items[-1].type != "tool_result":
            call_id = w.new_call_id()
            yield ToolCallDelta(
                index=0, tool_call_id=call_id, name=w.TOOL_NAME, arguments_delta=w.TOOL_ARGS_JSON
            )
            yield ModelResponse(
                tool_calls=(
                    ToolCallRequest(
                        tool_call_id=call_id, name=w.TOOL_NAME, arguments=w.TOOL_ARGS_JSON
                    ),
                ),
                usage=Usage(input_tokens=10, output_tokens=5),
                finish_reason="tool_calls",
            )
            return
        for delta in self.deltas:
            yield TextDelta(delta=delta)
        yield ModelResponse(
            text=self.text, usage=Usage(input_tokens=10, output_tokens=len(self.deltas))
        )


def wal_commits(path: Path) -> int:
    """The database's commit counter: the transactions that wrote to its WAL since the first
    connection opened it, whoever made them and however they were grouped (-1 if the file
    has no WAL index, i.e. no connection has it open in WAL mode).

    It is `iChange` of the WAL index header (the `-shm` file, native byte order), which
    SQLite increments once per commit that writes frames: read transactions and empty
    `BEGIN ... COMMIT`s leave it alone, and checkpoints and WAL restarts do not reset it.
    """
    try:
        with open(f"{path}-shm", "rb") as shm:
            header = shm.read(_WAL_INDEX_HEADER)
    except FileNotFoundError:
        return -1
    if len(header) < _WAL_INDEX_HEADER:
        return -1
    return int.from_bytes(header[8:12], sys.byteorder)


class CountingStore(tl.SQLiteStore):
    """`SQLiteStore` counting the transactions committed to its database (`commits`, from the
    database itself, see `wal_commits`), a turn's write calls (`begin_turn` + `write_turn`:
    `writes`), and the time turns spend awaiting those calls."""

    writes = 0
    turn_write_seconds = 0.0

    @property
    def commits(self) -> int:
        return wal_commits(self.path)

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome:
        self.writes += 1
        start = time.perf_counter()
        try:
            return await super().begin_turn(request)
        finally:
            self.turn_write_seconds += time.perf_counter() - start

    async def write_turn(self, write: TurnWrite) -> Written:
        self.writes += 1
        start = time.perf_counter()
        try:
            return await super().write_turn(write)
        finally:
            self.turn_write_seconds += time.perf_counter() - start


class CountedStore(Store, Protocol):
    """A store that counts its commits (-1: cannot) and the time turns await their writes,
    as `CountingStore` does."""

    @property
    def commits(self) -> int: ...

    turn_write_seconds: float


class ThreadlineAdapter:
    def __init__(
        self, path: Path, synchronous: str = "FULL", store: CountedStore | None = None
    ) -> None:
        """On `CountingStore(path)`, or on `store` (another store that counts its commits)."""
        self.store: CountedStore = (
            store if store is not None else CountingStore(path, synchronous=synchronous)  # type: ignore[arg-type]
        )
        self.model = BenchModel()
        agent = tl.Agent(
            name="bench", instructions=w.INSTRUCTIONS, tools=[get_weather], model=self.model
        )
        self.app = tl.Threadline(agents=[agent], store=self.store)
        self.threads: dict[str, tl.Thread] = {}
        self._commits_offset = 0

    @property
    def store_seconds(self) -> float:
        return self.store.turn_write_seconds

    @property
    def commits(self) -> int:
        if self.store.commits < 0:
            return -1
        return self.store.commits - self._commits_offset

    @commits.setter
    def commits(self, value: int) -> None:
        self._commits_offset = self.store.commits - value

    async def open(self) -> None:
        await self.app.open()

    async def close(self) -> None:
        await self.app.close()

    def set_answer_deltas(self, n: int) -> None:
        self.model.set_deltas(n)

    async def new_thread(self) -> str:
        before = self.store.commits
        thread = await self.app.threads.start(user_id="bench")
        self._commits_offset += self.store.commits - before  # a turn's commits only
        self.threads[thread.id] = thread
        return thread.id

    async def _thread(self, thread_id: str) -> tl.Thread:
        thread = self.threads.get(thread_id)
        if thread is None:
            thread = self.threads[thread_id] = await self.app.threads.resume(thread_id)
        return thread

    async def turn(self, thread_id: str, text: str) -> int:
        thread = await self._thread(thread_id)
        count = 0
        async for _ in thread.run_streamed(text):
            count += 1
        return count

    async def prepare_load(self, thread_id: str) -> tl.Thread:
        return await self.app.threads.resume(thread_id)

    async def load(self, handle: tl.Thread) -> int:
        return len(await handle.items())


def framework(synchronous: str = "FULL") -> Framework:
    label = "threadline" if synchronous == "FULL" else f"threadline (synchronous={synchronous})"
    return Framework(
        name=label,
        factory=lambda path: ThreadlineAdapter(path, synchronous),
        kind="threadline" if synchronous == "FULL" else "variant",
        notes=(
            f"SQLiteStore(path, synchronous={synchronous!r}); Thread.run_streamed; "
            "a Model of its own (zero latency)",
        ),
    )
