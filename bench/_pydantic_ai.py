"""Pydantic AI: `Agent(FunctionModel(function=..., stream_function=...))` with the tool, run with
`agent.run_stream` + `stream_text(delta=True)`.

Pydantic AI ships no durable store (its `ConversationStore` has an in-memory implementation
only), so each thread's messages are kept the way its docs show: after each run,
`result.new_messages_json()` is appended as one row to a SQLite table (WAL, synchronous=FULL),
and a turn starts by loading every row of the thread with `ModelMessagesTypeAdapter`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from . import _workload as w
from ._workload import Framework


def _build() -> dict[str, Any]:
    import aiosqlite
    from pydantic_ai import Agent
    from pydantic_ai.messages import (
        ModelMessage,
        ModelMessagesTypeAdapter,
        ModelRequest,
        ModelResponse,
        TextPart,
        ToolCallPart,
        ToolReturnPart,
    )
    from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

    config = {"deltas": w.answer_deltas(50)}

    def wants_answer(messages: list[ModelMessage]) -> bool:
        last = messages[-1]
        return isinstance(last, ModelRequest) and any(
            isinstance(p, ToolReturnPart) for p in last.parts
        )

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if wants_answer(messages):
            return ModelResponse(parts=[TextPart("".join(config["deltas"]))])
        return ModelResponse(
            parts=[ToolCallPart(w.TOOL_NAME, w.TOOL_ARGS_JSON, tool_call_id=w.new_call_id())]
        )

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        if wants_answer(messages):
            for delta in config["deltas"]:
                yield delta
            return
        yield {
            0: DeltaToolCall(
                name=w.TOOL_NAME, json_args=w.TOOL_ARGS_JSON, tool_call_id=w.new_call_id()
            )
        }

    async def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return await w.weather(city)

    agent = Agent(
        FunctionModel(respond, stream_function=stream),
        instructions=w.INSTRUCTIONS,
        tools=[get_weather],
    )
    return {
        "aiosqlite": aiosqlite,
        "agent": agent,
        "config": config,
        "adapter": ModelMessagesTypeAdapter,
    }


_LIB: dict[str, Any] | None = None


def _lib() -> dict[str, Any]:
    global _LIB
    if _LIB is None:
        _LIB = _build()
    return _LIB


class PydanticAIAdapter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lib = _lib()
        self.agent = self.lib["agent"]
        self.conn: Any = None
        self.commits = 0

    async def open(self) -> None:
        self.conn = await self.lib["aiosqlite"].connect(self.path, isolation_level=None)
        await self.conn.execute("PRAGMA journal_mode=WAL")
        await self.conn.execute("PRAGMA synchronous=FULL")
        await self.conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, thread_id TEXT NOT "
            "NULL, message_list BLOB NOT NULL)"
        )
        await self.conn.execute(
            "CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, id)"
        )

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None

    def set_answer_deltas(self, n: int) -> None:
        self.lib["config"]["deltas"] = w.answer_deltas(n)

    async def new_thread(self) -> str:
        return uuid.uuid4().hex

    async def _history(self, thread_id: str) -> list[Any]:
        validate = self.lib["adapter"].validate_json
        messages: list[Any] = []
        async with self.conn.execute(
            "SELECT message_list FROM messages WHERE thread_id = ? ORDER BY id", (thread_id,)
        ) as cursor:
            for (row,) in await cursor.fetchall():
                messages.extend(validate(row))
        return messages

    async def turn(self, thread_id: str, text: str) -> int:
        history = await self._history(thread_id)
        count = 0
        async with self.agent.run_stream(text, message_history=history) as result:
            async for _ in result.stream_text(delta=True, debounce_by=None):
                count += 1
        # One statement, so one transaction (autocommit).
        await self.conn.execute(
            "INSERT INTO messages (thread_id, message_list) VALUES (?, ?)",
            (thread_id, result.new_messages_json()),
        )
        self.commits += 1
        return count

    async def prepare_load(self, thread_id: str) -> str:
        return thread_id

    async def load(self, handle: str) -> int:
        return len(await self._history(handle))


def framework() -> Framework:
    return Framework(
        name="Pydantic AI",
        factory=PydanticAIAdapter,
        notes=(
            "Agent(FunctionModel(function, stream_function)) + run_stream/stream_text(delta=True); "
            "history as ModelMessagesTypeAdapter JSON, one row per run, in SQLite (aiosqlite, WAL, "
            "synchronous=FULL): it has no durable store of its own",
        ),
    )
