"""Streams of events from the server: a turn's (`RemoteTurnStream`) and a thread's
(`RemoteSubscription`). The server numbers each stream's events; after a reconnect the
client asks for what followed the last number it received, so nothing is repeated or lost."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import Any

from threadline import TurnResult
from threadline.runtime import StartOutcome
from threadline.server.codex._wire import event_from_wire, outcome_from_wire, result_from_wire
from threadline.types import Event, NotFoundError, ThreadlineError, TurnCancelledError

from ._connection import Connection
from ._errors import ConnectionLostError

Router = dict[str, Callable[[int, dict[str, Any]], None]]  # stream id -> its delivery


@dataclass(frozen=True)
class _End:
    response: Any = None
    error: ThreadlineError | None = None


class RemoteTurnStream:
    """The events of one turn as they happen on the server; `result` once the iteration has
    ended. The same contract as `threadline.TurnStream`: ends after `completed` or a pause,
    raises `TurnFailedError` or `TurnCancelledError` after `failed` or `cancelled`, and
    cancelling the iterating task interrupts the turn."""

    def __init__(
        self, connection: Connection, method: str, params: dict[str, Any], router: Router
    ) -> None:
        self._connection = connection
        self._router = router
        self._method = method
        self._params = params
        self.run_id = uuid.uuid4().hex
        if method == "threadline/turn/run" and params.get("clientKey") is None:
            # Sending the run again after a lost connection must not submit it twice.
            params = {**params, "clientKey": f"run_{self.run_id}"}
            self._params = params
        self._queue: asyncio.Queue[Event | _End] = asyncio.Queue()
        self._last_index = 0
        self._task: asyncio.Task[None] | None = None
        self._outcome: StartOutcome | None = None
        self._result: TurnResult | None = None
        self._finished = False

    @property
    def outcome(self) -> StartOutcome | None:
        """How the input was taken (started, enqueued, steered, duplicate), once ended."""
        return self._outcome

    @property
    def result(self) -> TurnResult:
        if self._result is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end first")
        return self._result

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._finished:
            raise StopAsyncIteration
        if self._task is None:
            self._router[self.run_id] = self._deliver
            self._task = asyncio.get_running_loop().create_task(self._drive())
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            self._connection.spawn(
                self._connection.request("threadline/run/cancel", {"runId": self.run_id})
            )
            raise
        if isinstance(item, Event):
            return item
        self._finished = True
        self._router.pop(self.run_id, None)
        if item.error is not None:
            result = item.error.context.get("result")
            if isinstance(result, TurnResult):
                self._result = result
            raise item.error
        response = item.response
        self._outcome = outcome_from_wire(response.get("outcome"))
        self._result = result_from_wire(response["result"])
        raise StopAsyncIteration

    def _deliver(self, index: int, event: dict[str, Any]) -> None:
        if index <= self._last_index:
            return  # already delivered before a reconnect
        self._last_index = index
        self._queue.put_nowait(event_from_wire(event))

    async def _drive(self) -> None:
        start = (self._method, {**self._params, "runId": self.run_id})
        method, params = start
        while True:
            try:
                response = await self._connection.request(method, params)
            except ConnectionLostError:
                try:
                    await self._connection.wait_connected()
                except ThreadlineError as exc:
                    self._queue.put_nowait(_End(error=exc))
                    return
                method = "threadline/run/attach"
                params = {"runId": self.run_id, "afterIndex": self._last_index}
            except NotFoundError as exc:
                if method != "threadline/run/attach" or self._last_index:
                    self._queue.put_nowait(_End(error=exc))
                    return
                method, params = start  # the run request was lost with the connection
            except ThreadlineError as exc:
                self._queue.put_nowait(_End(error=exc))
                return
            except asyncio.CancelledError:
                self._queue.put_nowait(_End(error=TurnCancelledError("the run was cancelled")))
                raise
            else:
                self._queue.put_nowait(_End(response=response))
                return


def route(router: Router, params: dict[str, Any]) -> None:
    """Hand a numbered event notification to the stream it belongs to."""
    key = params.get("runId", params.get("subscriptionId"))
    deliver = router.get(str(key))
    if deliver is not None:
        deliver(int(params["index"]), params["event"])


class RemoteSubscription:
    """Every event of one thread from now on, whichever client or process makes it.
    `close()` ends the iteration. Awaiting it returns it once the server has taken the
    subscription (or the connection dropped: it is taken again after the reconnect);
    `async with` closes it at the end of the block."""

    def __init__(self, connection: Connection, thread_id: str, buffer: int, router: Router) -> None:
        self._connection = connection
        self.thread_id = thread_id
        self.subscription_id = uuid.uuid4().hex
        self._buffer = buffer
        self._router = router
        self._events: deque[Event] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._last_index = 0
        self.closed = False
        self.overflowed = False
        self.leaving: asyncio.Task[Any] | None = None  # telling the server, after close()
        router[self.subscription_id] = self._deliver
        connection.follow(self)
        self._started = asyncio.get_running_loop().create_task(self._subscribe(None))

    async def _subscribe(self, after_index: int | None) -> None:
        params: dict[str, Any] = {
            "threadId": self.thread_id,
            "subscriptionId": self.subscription_id,
        }
        if after_index is not None:
            params["afterIndex"] = after_index
        try:
            await self._connection.request("threadline/subscribe", params)
        except ConnectionLostError:
            pass  # subscribed again once reconnected
        except ThreadlineError:
            self.close()

    def reconnected(self) -> None:
        if not self.closed:
            self._connection.spawn(self._subscribe(self._last_index))

    def _deliver(self, index: int, event: dict[str, Any]) -> None:
        if self.closed or index <= self._last_index:
            return
        self._last_index = index
        if len(self._events) >= self._buffer:
            self.overflowed = True
            self.close()
            return
        self._events.append(event_from_wire(event))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._router.pop(self.subscription_id, None)
        self._connection.unfollow(self)
        if not self._connection.closed:
            self.leaving = self._connection.spawn(self._unsubscribe())
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _unsubscribe(self) -> None:
        # If this fails, the server drops the subscription after its retention anyway.
        with contextlib.suppress(ThreadlineError):
            await self._connection.request(
                "threadline/unsubscribe", {"subscriptionId": self.subscription_id}
            )

    def __await__(self) -> Generator[Any, None, RemoteSubscription]:
        return self._subscribed().__await__()

    async def _subscribed(self) -> RemoteSubscription:
        # `wait`, not `await`: a caller that stops waiting must not cancel the request, and a
        # request cut off by `close()` is no error of the caller's.
        await asyncio.wait({self._started})
        return self

    async def __aenter__(self) -> RemoteSubscription:
        return await self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

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
