"""A server on each store whose model records every request it is sent, for tests that
check what the model read; `conftest.py` starts one per test module and store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apps import CommandModel, get_weather, transfer
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from store_backends import drop_schema, postgres_url
from threadline.models import ModelEvent, ModelRequest
from threadline.types import SystemEvent, TextPart, UserMessage


class RecordingModel(CommandModel):
    """The apps' command model, keeping every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[ModelRequest] = []

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        async for event in super().stream(request):
            yield event

    def last_read(self) -> list[Any]:
        """What the model read in its last request (system events are not shown to it)."""
        return [
            i.payload for i in self.requests[-1].items if not isinstance(i.payload, SystemEvent)
        ]


@dataclass
class RecordedServer:
    server: RunningServer
    model: RecordingModel
    backend: str
    schema: str

    def store(self) -> tl.Store:
        """Another store object on the server's database, to count what it holds."""
        if self.backend == "sqlite":
            return tl.SQLiteStore(self.server.db)
        return tl.PostgresStore(postgres_url(), schema=self.schema)

    async def thread_count(self) -> int:
        async with self.store() as store:  # type: ignore[attr-defined]
            return len((await store.list_threads(limit=1000)).threads)


@contextmanager
def recorded_server(backend: str, directory: Path) -> Iterator[RecordedServer]:
    """A server on a SQLite file in `directory`, or on a PostgreSQL schema of its own."""
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    store = None if backend == "sqlite" else tl.PostgresStore(postgres_url(), schema=schema)
    model = RecordingModel()
    agent = tl.Agent(
        name="assistant", instructions="Be brief.", model=model, tools=[get_weather, transfer]
    )
    running, handle = start_server(directory / "threadline.db", store=store, app_agents=[agent])
    try:
        yield RecordedServer(server=running, model=model, backend=backend, schema=schema)
    finally:
        stop_server(handle)
        if backend == "postgres":
            asyncio.run(drop_schema(postgres_url(), schema))


def user(text: str) -> UserMessage:
    return UserMessage(content=(TextPart(text=text),))
