from __future__ import annotations

from typing import TYPE_CHECKING

from ._subagents import ChildThread, child_info, thread_handle

if TYPE_CHECKING:
    from threadline.types import ThreadRecord

    from ._engine import Engine
    from ._thread import Thread


class ThreadFamily:
    """A thread's relatives: the children its tools spawned and the thread that spawned it."""

    _engine: Engine
    record: ThreadRecord

    async def children(self) -> list[ChildThread]:
        """Every child thread of this thread (subagents its tools spawned), oldest first,
        with its reference id, agent, status and latest turn's result."""
        engine = self._engine
        return [
            await child_info(engine, c)
            for c in await engine.store.list_children(self.record.thread_id)
        ]

    async def child(self, reference_id: str) -> Thread | None:
        """A handle on the child of that reference id; None if there is none."""
        engine = self._engine
        found = await engine.store.get_child(self.record.thread_id, reference_id)
        return None if found is None else thread_handle(engine, found)

    async def parent(self) -> Thread | None:
        """A handle on the thread that spawned this one; None for a thread of its own."""
        parent_id = self.record.parent_id
        if parent_id is None:
            return None
        found = await self._engine.store.get_thread(parent_id)
        return None if found is None else thread_handle(self._engine, found)
