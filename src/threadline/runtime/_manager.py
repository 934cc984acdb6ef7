from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from threadline.types import NotFoundError, ThreadRecord, ThreadStatus, check_metadata, new_id

from ._agent import Agent
from ._engine import Engine
from ._thread import Thread

ThreadT = TypeVar("ThreadT")


@dataclass(frozen=True, kw_only=True)
class ThreadList(Sequence[ThreadT], Generic[ThreadT]):
    """One page of threads, newest first: iterate it, index it, take its `len`; pass
    `next_cursor` to `list(cursor=...)` for the next page (None after the last).

        page = await app.threads.list(user_id="me")
        for thread in page: print(thread.id)
    """

    threads: list[ThreadT]
    next_cursor: str | None

    def __iter__(self) -> Iterator[ThreadT]:
        return iter(self.threads)

    def __len__(self) -> int:
        return len(self.threads)

    @overload
    def __getitem__(self, index: int) -> ThreadT: ...
    @overload
    def __getitem__(self, index: slice) -> list[ThreadT]: ...
    def __getitem__(self, index: int | slice) -> ThreadT | list[ThreadT]:
        return self.threads[index]


class ThreadManager:
    """Creates, finds and lists threads: `app.threads`."""

    def __init__(self, engine: Engine, default_agent: str) -> None:
        self._engine = engine
        self._default_agent = default_agent

    async def start(
        self,
        *,
        user_id: str | None = None,
        agent: str | Agent | None = None,
        metadata: dict[str, Any] | None = None,
        key: str | None = None,
        resource_id: str | None = None,
        mode: str | None = None,
    ) -> Thread:
        """Create a thread. With `key`, return the thread of this `user_id` that has that key,
        if there is one: a key names a thread of its owner (None is an owner too)."""
        agent_name = self._agent_name(agent)
        self._engine.agent(agent_name).resolve_mode(mode)
        metadata = {} if metadata is None else check_metadata(metadata)
        now = time.time()
        record = await self._engine.store.create_thread(
            ThreadRecord(
                thread_id=new_id("thr"),
                key=key,
                user_id=user_id,
                resource_id=resource_id,
                agent=agent_name,
                mode=mode,
                metadata=dict(metadata),
                created_at=now,
                updated_at=now,
            )
        )
        return Thread(self._engine, record)

    async def resume(self, thread_id: str) -> Thread:
        """A handle on an existing thread. Raises `NotFoundError`."""
        record = await self._engine.store.get_thread(thread_id)
        if record is None:
            raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
        return Thread(self._engine, record)

    async def list(
        self,
        *,
        user_id: str | None = None,
        status: ThreadStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> ThreadList[Thread]:
        """Threads newest first; archived ones only when `status="archived"`. The page is a
        sequence of `Thread`s with a `next_cursor`."""
        page = await self._engine.store.list_threads(
            user_id=user_id, status=status, limit=limit, cursor=cursor
        )
        return ThreadList(
            threads=[Thread(self._engine, r) for r in page.threads], next_cursor=page.next_cursor
        )

    async def fork(
        self, thread_id: str, *, upto_seq: int | None = None, metadata: dict[str, Any] | None = None
    ) -> Thread:
        """A new thread whose history copies the visible history of `thread_id` (up to item
        `upto_seq`); its metadata names the source as `forked_from_id`."""
        from ._history_edits import fork

        if metadata is not None:
            check_metadata(metadata)
        record = await fork(self._engine, thread_id, upto_seq=upto_seq, metadata=metadata)
        return Thread(self._engine, record)

    async def get_or_create(
        self,
        *,
        user_id: str,
        agent: str | Agent | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Thread:
        """The user's most recent thread of that agent that is not archived, else a new one."""
        agent_name = self._agent_name(agent)
        if metadata is not None:
            check_metadata(metadata)  # refused even when an open thread makes it unused
        record = await self._engine.store.find_open_thread(user_id=user_id, agent=agent_name)
        if record is not None:
            return Thread(self._engine, record)
        return await self.start(user_id=user_id, agent=agent_name, metadata=metadata)

    def _agent_name(self, agent: str | Agent | None) -> str:
        if agent is None:
            return self._default_agent
        name = agent.name if isinstance(agent, Agent) else agent
        self._engine.agent(name)
        return name
