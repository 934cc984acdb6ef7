"""One client connection speaking the app-server protocol, whatever carries it: the
transport feeds it messages with `receive` and sends what `outgoing` yields."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from threadline import Thread
from threadline._logging import log_failure
from threadline.types import NotFoundError, ThreadlineError

from ._hub import Hub
from ._jsonrpc import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    JSON,
    METHOD_NOT_FOUND,
    Limits,
    Message,
    MessageError,
    Notification,
    Request,
    RequestId,
    Response,
    RpcError,
    decode,
    error_message,
    notification_message,
    request_message,
    result_message,
    rpc_error,
)
from ._notifier import Ask, Note, Resolved, ThreadNotifier
from ._params import Params

logger = logging.getLogger("threadline.server.codex")

Handler = Callable[["Session", Params], Awaitable[Any]]
ResponseHandler = Callable[[Response], Awaitable[None]]
CLIENT_NOTIFICATIONS = frozenset({"initialized"})
_STORE_WAIT_TRIES = 400
_STORE_WAIT_SECONDS = 0.005


class Watch:
    """A connection's view of one thread: its events become notifications."""

    def __init__(self, thread: Thread, notifier: ThreadNotifier, subscription: Any) -> None:
        self.thread = thread
        self.notifier = notifier
        self.subscription = subscription
        self.gate = asyncio.Event()
        self.gate.set()
        self.task: asyncio.Task[None] | None = None


class Session:
    """The protocol state of one connection: handshake, requests in order, server requests
    and their answers, the threads it watches.

        session = Session(hub)
        await session.receive(line)          # for each incoming message
        async for batch in session.outgoing(): write(batch)
    """

    def __init__(
        self, hub: Hub, *, limits: Limits | None = None, identity: str | None = None
    ) -> None:
        from ._methods import DETACHED, METHODS

        self.hub = hub
        self.limits = limits or Limits()
        self.identity = identity  # the user whose threads this connection may see
        self._methods = METHODS
        self._detached = DETACHED
        self.initialized = False
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self._outbox: deque[bytes] = deque()
        self._outbox_waiter: asyncio.Future[None] | None = None
        self._inbox: asyncio.Queue[Request | None] = asyncio.Queue(self.limits.max_pending_requests)
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._deferred: list[Callable[[], None]] = []
        self._ids = itertools.count(1)
        self._awaiting: dict[RequestId, ResponseHandler] = {}
        self.watches: dict[str, Watch] = {}
        self.asks: dict[RequestId, Ask] = {}
        self.sinks: list[tuple[Any, Any]] = []  # (relay, sink) attached by this connection

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self, data: str | bytes) -> None:
        """Handle one incoming message. Waits while too many requests are pending."""
        if self.closed.is_set():
            return
        try:
            message = decode(data, self.limits)
        except MessageError as exc:
            self.send(error_message(exc.id, exc))
            return
        await self._dispatch(message)

    async def thread(self, thread_id: str) -> Thread:
        """A thread this connection may see; any other reads as not found."""
        thread = await self.hub.thread(thread_id)
        if self.identity is not None and thread.user_id != self.identity:
            raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
        return thread

    def user_id(self, requested: str | None) -> str | None:
        """The user a thread is started or listed for: the connection's own, when it has one."""
        return self.identity if self.identity is not None else requested

    def refuse(self, error: RpcError) -> None:
        """Answer a message the transport could not even read (too big, not text)."""
        self.send(error_message(None, error))

    async def _dispatch(self, message: Message) -> None:
        if isinstance(message, Response):
            handler = self._awaiting.pop(message.id, None)
            if handler is not None:
                self.spawn(handler(message))
            return
        if isinstance(message, Notification):
            if message.method in CLIENT_NOTIFICATIONS:
                return
            known = message.method in self._methods or message.method == "initialize"
            what = "a request" if known else "not a notification this server knows"
            self.send(
                error_message(
                    None,
                    RpcError(
                        INVALID_REQUEST, f"`{message.method[:80]}` is {what} and needs an `id`"
                    ),
                )
            )
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        await self._inbox.put(message)

    async def _work(self) -> None:
        while True:
            request = await self._inbox.get()
            if request is None:
                return
            if request.method in self._detached and self.initialized:
                self.spawn(self._handle(request, sequential=False))
            else:
                await self._handle(request, sequential=True)

    async def _handle(self, request: Request, *, sequential: bool) -> None:
        if sequential:
            self._deferred = []
        try:
            result = await self._call(request)
        except RpcError as exc:
            self.send(error_message(request.id, exc))
        except ThreadlineError as exc:
            self.send(error_message(request.id, rpc_error(exc)))
        except Exception as exc:
            log_failure(logger, "request %s failed", request.method, exc=exc)
            self.send(
                error_message(
                    request.id,
                    RpcError(INTERNAL_ERROR, f"internal error while handling {request.method}"),
                )
            )
        else:
            self.send(result_message(request.id, result))
        if sequential:
            deferred, self._deferred = self._deferred, []
            for action in deferred:
                action()

    async def _call(self, request: Request) -> Any:
        if request.method == "initialize":
            return self._initialize(Params(request.params))
        if not self.initialized:
            raise RpcError(INVALID_REQUEST, "Not initialized: send `initialize` first")
        handler = self._methods.get(request.method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {request.method[:80]}")
        return await handler(self, Params(request.params))

    def _initialize(self, params: Params) -> JSON:
        if self.initialized:
            raise RpcError(INVALID_REQUEST, "Already initialized")
        info = params.opt_dict("clientInfo")
        if info is None or not isinstance(info.get("name"), str):
            raise RpcError(INVALID_PARAMS, "`clientInfo` with a `name` is required")
        self.initialized = True
        return self.hub.info.initialize_result()

    def defer(self, action: Callable[[], None]) -> None:
        """Run `action` once the response to the request being handled has been sent (for
        handlers that run in order, not the long-running ones)."""
        self._deferred.append(action)

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- sending -----------------------------------------------------------------------------

    def send(self, message: JSON) -> None:
        """Queue a message for the client. A client that lets `max_outbound` messages pile
        up is too slow to keep: the session closes, and the transport drops it."""
        if self.closed.is_set():
            return
        if len(self._outbox) >= self.limits.max_outbound:
            self.shut(f"the client fell more than {self.limits.max_outbound} messages behind")
            return
        self._outbox.append(orjson.dumps(message, default=str))
        waiter = self._outbox_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def notify(self, method: str, params: JSON) -> None:
        self.send(notification_message(method, params))

    def request(self, method: str, params: JSON, on_response: ResponseHandler) -> RequestId:
        request_id = next(self._ids)
        self._awaiting[request_id] = on_response
        self.send(request_message(request_id, method, params))
        return request_id

    async def outgoing(self) -> AsyncIterator[list[bytes]]:
        """Batches of encoded messages for the transport to write (everything queued at
        that moment), until the session closes."""
        while True:
            if self._outbox:
                batch = list(self._outbox)
                self._outbox.clear()
                yield batch
                continue
            if self.closed.is_set():
                return
            self._outbox_waiter = asyncio.get_running_loop().create_future()
            closing = asyncio.ensure_future(self.closed.wait())
            try:
                await asyncio.wait(
                    {self._outbox_waiter, closing}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                closing.cancel()
                self._outbox_waiter = None

    # -- watching threads --------------------------------------------------------------------

    async def watch(self, thread: Thread) -> Watch:
        """Send this thread's events to the client as notifications, from now on."""
        watch = self.watches.get(thread.id)
        if watch is not None:
            return watch
        from ._approvals import load_arguments, waiting_flags

        record = await thread.reload()
        waiting = await waiting_flags(thread)
        from ._shapes import thread_status

        notifier = ThreadNotifier(
            thread.id,
            status=thread_status(record, sorted(set(waiting.values()))),
            load_arguments=load_arguments(thread),
            waiting=waiting,
        )
        watch = self.watches[thread.id] = Watch(thread, notifier, thread.subscribe())
        watch.task = self.spawn(self._pump(watch))
        return watch

    def hold(self, watch: Watch) -> None:
        """Keep the thread's notifications back until the current response is sent."""
        watch.gate.clear()
        self.defer(watch.gate.set)

    async def _pump(self, watch: Watch) -> None:
        from ._approvals import ask, resolved

        async for event in watch.subscription:
            await watch.gate.wait()
            if event.is_terminal:
                await _stored(watch.thread, event.seq)
            for output in await watch.notifier.translate(event):
                if isinstance(output, Note):
                    self.notify(output.method, output.params)
                elif isinstance(output, Ask):
                    ask(self, output)
                elif isinstance(output, Resolved):
                    resolved(self, output)
        if getattr(watch.subscription, "overflowed", False):
            self.shut("the client fell too far behind the events of a thread")

    # -- closing -----------------------------------------------------------------------------

    async def finish(self) -> None:
        """Handle the requests received so far (the client has nothing more to say)."""
        worker = self._worker
        if worker is not None and not worker.done():
            await self._inbox.put(None)
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def shut(self, reason: str) -> None:
        """Close the session without waiting (the transport drops the connection)."""
        if not self.closed.is_set():
            self.close_reason = reason
            logger.info("closing a connection: %s", reason)
            self.closed.set()

    async def close(self) -> None:
        """Stop everything this connection started, except turns: they run on."""
        self.shut(self.close_reason or "the connection closed")
        for watch in self.watches.values():
            watch.subscription.close()
        self.watches.clear()
        for relay, sink in self.sinks:
            relay.detach(sink)
        self.sinks.clear()
        if self._worker is not None:
            self._worker.cancel()
        tasks = [t for t in (*self._tasks, self._worker) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _stored(thread: Thread, seq: int) -> None:
    """Wait (briefly) until the event `seq` is stored. Live events are published before
    their commit; a client told that a turn ended must find it ended when it reads."""
    for _ in range(_STORE_WAIT_TRIES):
        if await thread.events(after_seq=seq - 1, limit=1):
            return
        await asyncio.sleep(_STORE_WAIT_SECONDS)
