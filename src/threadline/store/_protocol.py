from __future__ import annotations

from typing import Protocol, runtime_checkable

from threadline.types import Event, InboxEntry, Item, ThreadRecord, ThreadStatus, TurnRecord

from ._writes import BeginOutcome, BeginTurn, ThreadPage, ThreadUpdate, TurnWrite


@runtime_checkable
class Store(Protocol):
    """Persistence for threads, turns, items, events and the inbox.

    Every write is one transaction. Reads see every write whose call has returned.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        """Store a new thread; a thread with the same `key` is returned instead if it exists."""
        ...

    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...

    async def list_threads(
        self, *, user_id: str | None = None, status: ThreadStatus | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> ThreadPage:
        """Threads newest first. `cursor` is the `next_cursor` of the previous page."""
        ...

    async def find_open_thread(self, *, user_id: str, agent: str) -> ThreadRecord | None:
        """The user's most recent thread of that agent that is not archived."""
        ...

    async def update_thread(self, thread_id: str, update: ThreadUpdate) -> ThreadRecord: ...

    async def delete_thread(self, thread_id: str) -> bool: ...

    async def begin_turn(self, request: BeginTurn) -> BeginOutcome: ...

    async def write_turn(self, write: TurnWrite) -> None: ...

    async def get_turn(self, turn_id: str) -> TurnRecord | None: ...

    async def list_turns(self, thread_id: str) -> list[TurnRecord]: ...

    async def load_items(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None,
    ) -> list[Item]: ...

    async def load_events(
        self, thread_id: str, *, after_seq: int = 0, limit: int | None = None,
    ) -> list[Event]: ...

    async def enqueue(self, entry: InboxEntry) -> InboxEntry:
        """Append to the thread's inbox; the same `client_key` returns the first entry."""
        ...

    async def peek_inbox(self, thread_id: str) -> InboxEntry | None:
        """The oldest inbox entry of the thread, if any."""
        ...

    async def list_inbox(self, thread_id: str) -> list[InboxEntry]: ...
