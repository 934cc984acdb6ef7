from __future__ import annotations

import time
from typing import Any

from threadline.store import ThreadUpdate
from threadline.types import (
    Budget,
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    NotFoundError,
    ThreadRecord,
    TurnInProgressError,
    TurnRecord,
    new_id,
)

from ._bus import DEFAULT_BUFFER, Subscription
from ._engine import Engine, StartOptions
from ._input import TurnInput, normalize_input, parts_as_json
from ._result import TurnResult
from ._stream import TurnStream


class Thread:
    """A handle on one thread. Cheap to create; holds nothing but ids and a snapshot.

        thread = await app.threads.start(user_id="me")
        result = await thread.run("What's the weather in Paris?")
    """

    def __init__(self, engine: Engine, record: ThreadRecord) -> None:
        self._engine = engine
        self.record = record
        self._subscriptions: list[Subscription] = []

    def __repr__(self) -> str:
        return f"Thread({self.id!r}, agent={self.record.agent!r})"

    @property
    def id(self) -> str:
        return self.record.thread_id

    @property
    def user_id(self) -> str | None:
        return self.record.user_id

    async def reload(self) -> ThreadRecord:
        """Read the thread again from the store and return the fresh record."""
        record = await self._engine.store.get_thread(self.id)
        if record is None:
            raise NotFoundError(f"thread {self.id!r} no longer exists", thread_id=self.id)
        self.record = record
        return record

    # -- turns -------------------------------------------------------------------------------

    def run_streamed(self, input: TurnInput, *, sender: str | None = None,
                     enqueue_if_busy: bool = False, client_key: str | None = None,
                     budget: Budget | None = None) -> TurnStream:
        """Start a turn and stream its events; see `TurnStream`.

        Raises `TurnInProgressError` (when iterated) if a turn is running and
        `enqueue_if_busy` is false; `InvalidInputError` at once for malformed input.
        """
        parts, sender = normalize_input(input, sender)
        return TurnStream(self._engine, self.id, parts, StartOptions(
            sender=sender, client_key=client_key, enqueue_if_busy=enqueue_if_busy,
            budget=budget))

    async def run(self, input: TurnInput, *, sender: str | None = None,
                  enqueue_if_busy: bool = False, client_key: str | None = None,
                  budget: Budget | None = None) -> TurnResult:
        """Run one turn to its end and return its result.

        Args:
            input: a string, a list of input parts, or `{"input": ..., "sender": ...}`.
            sender: who speaks, stored on the user item.
            enqueue_if_busy: queue the input when a turn is running, and return once the
                queued input's own turn has run.
            client_key: an idempotency key; repeating it returns the first turn's result.
            budget: limits for this turn, over the agent's.

        Raises `TurnFailedError`, `TurnCancelledError`, `TurnInProgressError`. Cancelling
        the awaiting task interrupts the turn.
        """
        stream = self.run_streamed(input, sender=sender, enqueue_if_busy=enqueue_if_busy,
                                   client_key=client_key, budget=budget)
        async for _ in stream:
            pass
        return stream.result

    async def enqueue(self, input: TurnInput, *, sender: str | None = None,
                      client_key: str | None = None) -> InboxEntry:
        """Queue input for its own turn after the running one (at once if the thread is
        idle). Accepted input is stored before this returns."""
        parts, sender = normalize_input(input, sender)
        entry = await self._engine.store.enqueue(InboxEntry(
            entry_id=new_id("inbox"), thread_id=self.id, position=0,
            input=parts_as_json(parts), sender=sender, client_key=client_key,
            created_at=time.time()))
        self._engine.spawn(self._engine.drain(self.id))
        return entry

    async def interrupt(self) -> bool:
        """Cancel the running turn, keeping what it produced. False if none was running."""
        return await self._engine.interrupt(self.id)

    async def turns(self) -> list[TurnRecord]:
        return await self._engine.store.list_turns(self.id)

    async def inbox(self) -> list[InboxEntry]:
        return await self._engine.store.list_inbox(self.id)

    # -- reading -----------------------------------------------------------------------------

    async def items(self, *, after_seq: int = 0, limit: int | None = None) -> list[Item]:
        """The stored history, oldest first."""
        return await self._engine.store.load_items(self.id, after_seq=after_seq, limit=limit)

    async def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        """The stored event log after `after_seq` (deltas coalesced)."""
        return await self._engine.store.load_events(self.id, after_seq=after_seq, limit=limit)

    def subscribe(self, *, buffer: int = DEFAULT_BUFFER) -> Subscription:
        """Receive every event of this thread from now on, including turns this handle did
        not start (a queued input, another handle). Iterate it with `async for`."""
        subscription = self._engine.bus.subscribe(self.id, buffer)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self) -> None:
        """End every subscription made through this handle."""
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()

    # -- changing ----------------------------------------------------------------------------

    async def set_mode(self, mode: str | None) -> ThreadRecord:
        """Switch the agent mode (its instructions and tools) from the next turn on."""
        self._engine.agent(self.record.agent).resolve_mode(mode)
        self.record = await self._engine.store.update_thread(self.id, ThreadUpdate(mode=mode))
        return self.record

    async def archive(self) -> ThreadRecord:
        """Close the thread to new input and hide it from default listings."""
        self._refuse_if_running("archive")
        self.record = await self._engine.store.update_thread(
            self.id, ThreadUpdate(status="archived"))
        return self.record

    async def unarchive(self) -> ThreadRecord:
        self.record = await self._engine.store.update_thread(self.id, ThreadUpdate(status="idle"))
        return self.record

    async def delete(self) -> bool:
        """Delete the thread and everything stored for it."""
        self._refuse_if_running("delete")
        self.unsubscribe()
        self._engine.history.drop(self.id)
        return await self._engine.store.delete_thread(self.id)

    async def set_metadata(self, metadata: dict[str, Any]) -> ThreadRecord:
        if not isinstance(metadata, dict):
            raise InvalidInputError("metadata must be a dict")
        self.record = await self._engine.store.update_thread(
            self.id, ThreadUpdate(metadata=metadata))
        return self.record

    def _refuse_if_running(self, action: str) -> None:
        if self.id in self._engine.active:
            raise TurnInProgressError(f"cannot {action} a thread while a turn runs on it; "
                                      "interrupt() it first", thread_id=self.id)

