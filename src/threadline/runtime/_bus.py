from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Generator
from typing import Any

from threadline.types import Event

DEFAULT_BUFFER = 10_000


class Channel:
    """A queue of events read by one consumer. Pushing never blocks: a consumer that falls
    more than `buffer` events behind is closed (`overflowed` is set) instead."""

    def __init__(self, buffer: int | None = None) -> None:
        self._buffer = buffer
        self._events: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.overflowed = False

    def push(self, event: Event) -> None:
        if self.closed:
            return
        if self._buffer is not None and len(self._events) >= self._buffer:
            self.overflowed = True
            self.close()
            return
        self._events.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_close()
            self._wake()

    def _on_close(self) -> None:
        pass

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while not self._events:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()


class Subscription(Channel):
    """Every event of one thread from now on, whichever turn or process-local handle makes
    it. Iterate it with `async for`; `close()` ends the iteration. Awaiting it returns it
    once it receives events (at once, in-process); `async with` closes it at the end of the
    block.

        async with thread.subscribe() as events:
            async for event in events: ...
    """

    def __init__(self, bus: EventBus, thread_id: str, buffer: int) -> None:
        super().__init__(buffer)
        self._bus = bus
        self.thread_id = thread_id

    def _on_close(self) -> None:
        self._bus.remove(self)

    def __await__(self) -> Generator[Any, None, Subscription]:
        return self._subscribed().__await__()

    async def _subscribed(self) -> Subscription:
        return self

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()


class EventBus:
    """In-process fan-out of thread events to subscribers."""

    def __init__(self) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}

    def subscribe(self, thread_id: str, buffer: int = DEFAULT_BUFFER) -> Subscription:
        subscription = Subscription(self, thread_id, buffer)
        self._subscribers.setdefault(thread_id, set()).add(subscription)
        return subscription

    def remove(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.thread_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.thread_id]

    def publish(self, event: Event) -> None:
        subscribers = self._subscribers.get(event.thread_id)
        if subscribers:
            for subscription in list(subscribers):
                subscription.push(event)

    def close_all(self) -> None:
        for subscribers in list(self._subscribers.values()):
            for subscription in list(subscribers):
                subscription.close()
