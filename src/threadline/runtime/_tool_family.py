"""What a tool's `ThreadState` uses to start child threads and find its relatives, bound to
one tool call: the parent side of `spawn` (`ParentTurn`)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from threadline.types import Subagent, Usage

from ._subagents import spawn, thread_handle

if TYPE_CHECKING:
    from ._context import TurnContext
    from ._tool_step import Invocation


class ChildThreadServices:
    _ctx: TurnContext
    _invocation: Invocation

    @property
    def call_id(self) -> str:
        return self._invocation.call.tool_call_id

    @property
    def context(self) -> TurnContext:
        return self._ctx

    async def suspend(self, wait: Subagent) -> None:
        invocation = self._invocation
        waiting = asyncio.get_running_loop().create_future()
        invocation.child_waits[wait.thread_id] = waiting
        invocation.waiting[wait.thread_id] = wait
        invocation.notify()
        try:
            await waiting
        finally:
            if invocation.child_waits.get(wait.thread_id) is waiting:
                del invocation.child_waits[wait.thread_id]

    def add_usage(self, usage: Usage) -> None:
        self._invocation.subagent_usage = self._invocation.subagent_usage + usage

    async def spawn(
        self, caller: Any, agent: str, input: Any, reference_id: str, wait: bool
    ) -> Any:
        return await spawn(self._ctx.services, self, agent, input, reference_id, wait)

    async def child_thread(self, reference_id: str) -> Any:
        return await self._own_thread().child(reference_id)

    async def parent_thread(self) -> Any:
        return await self._own_thread().parent()

    async def children(self) -> list[Any]:
        return list(await self._own_thread().children())

    def _own_thread(self) -> Any:
        return thread_handle(self._ctx.services, self._ctx.thread)
