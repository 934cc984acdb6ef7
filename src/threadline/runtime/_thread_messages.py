from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from threadline.store import ItemQuery
from threadline.tools import MessageContent, MessageRole
from threadline.types import (
    InboxEntry,
    InvalidInputError,
    Item,
    NotFoundError,
    ThreadRecord,
    TurnRecord,
)

from ._history_edits import append_items
from ._messages import edit_marker, edited_payload, message_payload, not_found, queue, versions
from ._termination import terminate

if TYPE_CHECKING:
    from ._engine import Engine


class ThreadIdentity:
    """What a thread handle (in-process or remote) says of its thread from its record."""

    record: ThreadRecord  # the thread as last read (`reload()` reads it again)

    @property
    def thread_id(self) -> str:
        return self.record.thread_id

    @property
    def agent_id(self) -> str:
        """The name of the thread's agent."""
        return self.record.agent

    @property
    def created_at(self) -> float:
        return self.record.created_at

    @property
    def terminated(self) -> bool:
        """Whether the thread was terminated, as last read (`reload()` reads it again)."""
        return self.record.status == "terminated"


class ThreadMessages(ThreadIdentity):
    """Identity, messages and lifecycle of the thread, from outside (see `Thread`)."""

    _engine: Engine

    async def execution(self) -> TurnRecord | None:
        """The record of the thread's unfinished turn (running, or paused for a human), read
        now; None when the thread is at rest."""
        record = await self._reload_messages()
        if record.active_turn_id is None:
            return None
        return await self._engine.store.get_turn(record.active_turn_id)

    # -- messages -----------------------------------------------------------------------------

    async def get_message(self, item_id: str) -> Item:
        """The item `item_id` as the model sees it now (as last edited). Raises
        `NotFoundError` for an id this thread does not hold (another thread's included) or
        an item taken out of the history."""
        return (await self._versions(item_id))[-1]

    async def get_message_versions(self, item_id: str) -> list[Item]:
        """Every version of item `item_id`, oldest first: the item as stored, then one per
        `update_message`. Raises `NotFoundError` like `get_message`."""
        return await self._versions(item_id)

    async def inject_message(
        self, content: MessageContent, *, role: MessageRole = "user", sender: str | None = None
    ) -> Item:
        """Add a message to the history outside any turn, without starting one: the model
        reads it in the next turn. Raises `TurnInProgressError` while a turn is unfinished
        (`queue_message` joins a running turn), `InvalidInputError` for malformed content.

            await thread.inject_message("Earlier, we agreed on Friday.", role="assistant")
        """
        if role not in ("user", "assistant"):
            raise InvalidInputError("role must be 'user' or 'assistant'")
        payload = await message_payload(
            self._engine.store, self.record.thread_id, content, role, sender
        )
        (item,) = await append_items(self._engine, self.record.thread_id, [payload])
        return item

    async def update_message(self, item_id: str, content: MessageContent) -> Item:
        """Edit a stored message (a user message's content, an agent message's text or a tool
        result's output) outside any turn. The edit is an `edited` system event; the model
        sees the new version from its next request on; `get_message_versions` keeps the
        original. Returns the new version.

        Raises `NotFoundError` for an unknown item, `InvalidInputError` for another kind of
        item or malformed content, `TurnInProgressError` while a turn is unfinished (a tool
        edits during a turn).
        """
        original = (await self._versions(item_id))[0]
        payload = await edited_payload(self._engine.store, original, content)
        (marker,) = await append_items(
            self._engine, self.record.thread_id, [edit_marker(item_id, payload)]
        )
        return replace(original, payload=payload, created_at=marker.created_at)

    async def queue_message(
        self,
        content: MessageContent,
        *,
        sender: str | None = None,
        client_key: str | None = None,
    ) -> InboxEntry:
        """Queue a user message, durably and in order: the unfinished turn (running anywhere,
        or paused) takes it before its next model step; if there is none, it starts a turn of
        its own. `client_key` makes a repeat return the first entry. Returns the entry (its
        `kind` says which way it went: "steer" or "input").

        Raises `InvalidInputError` for malformed input, `ThreadTerminatedError` once the
        thread was terminated.
        """
        return await queue(self._engine, self.record, content, sender=sender, client_key=client_key)

    # -- lifecycle ----------------------------------------------------------------------------

    async def terminate(self, reason: str) -> ThreadRecord:
        """End the thread for good: an unfinished turn (wherever it runs) is cancelled with
        what it produced kept, the inbox and scheduled effects are dropped, and a `terminated`
        system event stores `reason`. From then on every input (`run`, `enqueue`,
        `queue_message`, `schedule`, approvals and answers) raises `ThreadTerminatedError`
        and changes nothing. Terminating again changes nothing. Returns the thread.

            await thread.terminate("the customer closed the ticket")
            assert thread.terminated
        """
        self.record = await terminate(self._engine, self.record.thread_id, reason)
        return self.record

    # -- helpers ------------------------------------------------------------------------------

    async def _versions(self, item_id: str) -> list[Item]:
        if not isinstance(item_id, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise not_found(str(item_id))
        store = self._engine.store
        thread_id = self.record.thread_id
        found = await store.query_items(ItemQuery(thread_id=thread_id, item_ids=[item_id]))
        if not found:
            raise not_found(item_id)
        # Edits and deletions come after what they change.
        later = await store.query_items(
            ItemQuery(thread_id=thread_id, after_seq=found[0].seq, types=["system_event"])
        )
        return versions(found[0], later)

    async def _reload_messages(self) -> ThreadRecord:
        record = await self._engine.store.get_thread(self.record.thread_id)
        if record is None:
            raise NotFoundError(
                f"thread {self.record.thread_id!r} no longer exists",
                thread_id=self.record.thread_id,
            )
        self.record = record
        return record
