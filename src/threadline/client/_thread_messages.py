"""Identity, messages and lifecycle of a remote thread: `threadline.Thread`'s methods, over
the network."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from threadline.runtime import ThreadIdentity
from threadline.server.codex._wire import (
    inbox_from_wire,
    item_from_wire,
    thread_from_wire,
    turn_from_wire,
)
from threadline.tools import MessageContent, MessageRole
from threadline.types import InboxEntry, Item, ThreadRecord, TurnRecord

from ._input import input_to_wire


class RemoteThreadMessages(ThreadIdentity):
    """Identity, messages and lifecycle of a `RemoteThread`; see `threadline.Thread`."""

    _call: Callable[..., Awaitable[Any]]

    async def execution(self) -> TurnRecord | None:
        """The thread's unfinished turn, None when it is at rest."""
        data = (await self._call("execution"))["turn"]
        return None if data is None else turn_from_wire(data)

    async def get_message(self, item_id: str) -> Item:
        """The item `item_id` of this thread as last edited; see `Thread.get_message`."""
        return item_from_wire((await self._call("getMessage", itemId=item_id))["item"])

    async def get_message_versions(self, item_id: str) -> list[Item]:
        """The item as stored, then as each edit left it."""
        data = await self._call("getMessageVersions", itemId=item_id)
        return [item_from_wire(i) for i in data["items"]]

    async def inject_message(
        self, content: MessageContent, *, role: MessageRole = "user", sender: str | None = None
    ) -> Item:
        """Add a message to the history outside any turn; see `Thread.inject_message`."""
        data = await self._call(
            "injectMessage", content=input_to_wire(content), role=role, sender=sender
        )
        return item_from_wire(data["item"])

    async def update_message(self, item_id: str, content: MessageContent) -> Item:
        """Edit a stored message; see `Thread.update_message`."""
        data = await self._call("updateMessage", itemId=item_id, content=input_to_wire(content))
        return item_from_wire(data["item"])

    async def queue_message(
        self, content: MessageContent, *, sender: str | None = None, client_key: str | None = None
    ) -> InboxEntry:
        """Queue a user message, durably and in order; see `Thread.queue_message`."""
        data = await self._call(
            "queueMessage", content=input_to_wire(content), sender=sender, clientKey=client_key
        )
        return inbox_from_wire(data["entry"])

    async def terminate(self, reason: str) -> ThreadRecord:
        """End the thread for good; see `Thread.terminate`."""
        self.record = thread_from_wire((await self._call("terminate", reason=reason))["thread"])
        return self.record
