"""The relatives of a remote thread: `threadline.Thread`'s methods, over the network."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from threadline.runtime import ChildThread
from threadline.server.codex._wire import result_from_wire, thread_from_wire
from threadline.types import ThreadRecord

if TYPE_CHECKING:
    from ._thread import RemoteThread


class RemoteThreadFamily:
    """`children`, `child` and `parent` of a `RemoteThread`; see `threadline.Thread`."""

    _call: Callable[..., Awaitable[Any]]
    _relative: Callable[[ThreadRecord], RemoteThread]

    async def children(self) -> list[ChildThread]:
        """Every child thread of this thread (subagents its tools spawned), oldest first,
        with its reference id, agent, status and latest turn's result."""
        return [_child_from_wire(c) for c in (await self._call("children"))["children"]]

    async def child(self, reference_id: str) -> RemoteThread | None:
        """A handle on the child of that reference id; None if there is none."""
        data = (await self._call("child", referenceId=reference_id))["thread"]
        return None if data is None else self._relative(thread_from_wire(data))

    async def parent(self) -> RemoteThread | None:
        """A handle on the thread that spawned this one; None for a thread of its own."""
        data = (await self._call("parent"))["thread"]
        return None if data is None else self._relative(thread_from_wire(data))


def _child_from_wire(data: dict[str, Any]) -> ChildThread:
    result = data.get("result")
    return ChildThread(
        thread_id=data["thread_id"],
        reference_id=data.get("reference_id"),
        agent=data["agent"],
        status=data["status"],
        parent_turn_id=data.get("parent_turn_id"),
        created_at=data["created_at"],
        result=None if result is None else result_from_wire(result),
    )
