"""What outlives a connection: the turns clients started (a client that goes away never
stops its turn) and, for a while, the numbered events of runs and subscriptions, so that a
client that reconnects picks up exactly where it left off."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from threadline import Thread, Threadline, TurnResult, TurnStream
from threadline._logging import log_failure
from threadline.runtime import StartOutcome
from threadline.types import (
    Event,
    NotFoundError,
    ThreadlineError,
    TurnCancelledError,
)

from ._shapes import ServerInfo

logger = logging.getLogger("threadline.server.codex")

Sink = Callable[[int, Event], None]
RelayKind = Literal["run", "subscription"]
# Relays are kept per owner, the identity of the connections that may reach them (None on a
# server without keys): another key's ids are never looked at, so they read as unknown.
RelayKey = tuple[str | None, str]
_OUTCOME_POLL_SECONDS = 0.002
_SWEEP_SECONDS = 5.0


class RelayGone(ThreadlineError):
    """The events a client asked for are no longer kept (it was away too long)."""

    code = "relay_gone"


@dataclass(frozen=True, kw_only=True)
class RunEnd:
    """How a run ended: its outcome and result, or the error it raised."""

    outcome: StartOutcome | None
    result: TurnResult | None
    error: ThreadlineError | None


class Relay:
    """The events of one run or subscription of a thread, numbered from 1, the last `limit`
    of them kept for a client that reconnects. At most one client receives them live at a
    time."""

    def __init__(self, key: str, limit: int, *, kind: RelayKind, thread_id: str) -> None:
        self.key = key
        self.kind: RelayKind = kind
        self.thread_id = thread_id
        self.task: asyncio.Task[None] | None = None
        self._limit = limit
        self._kept: deque[tuple[int, Event]] = deque()
        self._last = 0
        self._sink: Sink | None = None
        self.detached_at: float | None = time.monotonic()
        self.ended = asyncio.Event()
        self.end: RunEnd | None = None
        self.close_source: Callable[[], None] | None = None

    def push(self, event: Event) -> None:
        self._last += 1
        self._kept.append((self._last, event))
        if len(self._kept) > self._limit:
            self._kept.popleft()
        if self._sink is not None:
            self._sink(self._last, event)

    def attach(self, sink: Sink, after_index: int) -> None:
        """Deliver what came after `after_index`, then every new event, to `sink`. Raises
        `RelayGone` if some of it is no longer kept."""
        first = self._kept[0][0] if self._kept else self._last + 1
        if after_index < first - 1 or after_index > self._last:
            raise RelayGone(
                f"events after index {after_index} of {self.key!r} are no longer "
                "kept; read the thread's stored events instead",
                key=self.key,
            )
        self._sink = sink
        self.detached_at = None
        for index, event in list(self._kept):
            if index > after_index:
                sink(index, event)

    def detach(self, sink: Sink) -> None:
        if self._sink is sink:
            self._sink = None
            self.detached_at = time.monotonic()

    def finish(self, end: RunEnd) -> None:
        if self.end is None:
            self.end = end
            self.ended.set()


class Hub:
    """Shared by every connection to one app.

        hub = Hub(app)
        session = Session(hub)   # one per connection

    Args:
        app: the open `Threadline` app the clients drive.
        info: what the server reports about itself.
        retention: seconds the events of a finished run, or of a subscription whose client
            went away, are kept for it to come back.
        relay_limit: events kept per run or subscription.
    """

    def __init__(
        self,
        app: Threadline,
        *,
        info: ServerInfo | None = None,
        retention: float = 60.0,
        relay_limit: int = 50_000,
    ) -> None:
        self.app = app
        self.info = info or ServerInfo.current()
        self.retention = retention
        self.relay_limit = relay_limit
        self.relays: dict[RelayKey, Relay] = {}
        self._drivers: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    async def thread(self, thread_id: str) -> Thread:
        return await self.app.threads.resume(thread_id)

    # -- turns -------------------------------------------------------------------------------

    async def start(self, stream: TurnStream) -> StartOutcome:
        """Drive `stream` to its end in the background, whoever is listening, and return
        how its input was taken. Errors of the submission itself are raised here."""
        task = asyncio.get_running_loop().create_task(self._drive(stream, None))
        self._drivers.add(task)
        task.add_done_callback(self._drivers.discard)
        # TurnStream tells how input was taken only through `outcome`, set during its first
        # step; wait for it without waiting for the turn's first event.
        while stream.outcome is None:
            if task.done():
                task.result()
                raise TurnCancelledError("the input was not started")
            await asyncio.wait({task}, timeout=_OUTCOME_POLL_SECONDS)
        return stream.outcome

    async def _drive(self, stream: TurnStream, relay: Relay | None) -> None:
        end: RunEnd
        try:
            async for event in stream:
                if relay is not None:
                    relay.push(event)
            end = RunEnd(outcome=stream.outcome, result=stream.result, error=None)
        except asyncio.CancelledError:
            if relay is not None:
                relay.finish(
                    RunEnd(
                        outcome=stream.outcome,
                        result=None,
                        error=TurnCancelledError("the run was cancelled"),
                    )
                )
            raise
        except ThreadlineError as exc:
            if relay is None and stream.outcome is None:
                raise  # the submission failed: `start` reports it
            result: Any = exc.context.get("result")
            end = RunEnd(
                outcome=stream.outcome,
                result=result if isinstance(result, TurnResult) else None,
                error=exc,
            )
        except Exception as exc:
            log_failure(logger, "a turn driven for a client failed", exc=exc)
            end = RunEnd(
                outcome=stream.outcome,
                result=None,
                error=ThreadlineError(f"internal error: {type(exc).__name__}"),
            )
        if relay is not None:
            relay.finish(end)

    def cancel_run(self, owner: str | None, run_id: str) -> bool:
        """Cancel `owner`'s run as cancelling the task that iterates a stream would: the turn
        is interrupted. False if it has ended, or `owner` has no such run."""
        relay = self.relays.get((owner, run_id))
        if relay is None or relay.kind != "run" or relay.task is None or relay.task.done():
            return False
        relay.task.cancel()
        return True

    async def start_run(
        self, owner: str | None, run_id: str, thread_id: str, stream: TurnStream
    ) -> Relay:
        relay = self._relay(owner, run_id, "run", thread_id)
        task = asyncio.get_running_loop().create_task(
            self._drive(stream, relay), name=f"run:{run_id}"
        )
        relay.task = task
        self._drivers.add(task)
        task.add_done_callback(self._drivers.discard)
        return relay

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, owner: str | None, subscription_id: str, thread: Thread) -> Relay:
        """A relay of every event of `thread` from now on, kept under `owner` and the
        client's id."""
        relay = self._relay(owner, subscription_id, "subscription", thread.id)
        subscription = thread.subscribe()

        async def pump() -> None:
            async for event in subscription:
                relay.push(event)
            relay.finish(RunEnd(outcome=None, result=None, error=None))

        task = asyncio.get_running_loop().create_task(pump())
        self._drivers.add(task)
        task.add_done_callback(self._drivers.discard)

        def close() -> None:
            subscription.close()

        relay.close_source = close
        return relay

    def unsubscribe(self, owner: str | None, subscription_id: str) -> bool:
        """Drop `owner`'s subscription; False if it has none of that id."""
        relay = self.relays.get((owner, subscription_id))
        if relay is None or relay.kind != "subscription":
            return False
        return self._drop((owner, subscription_id))

    def _drop(self, key: RelayKey) -> bool:
        relay = self.relays.pop(key, None)
        if relay is None:
            return False
        if relay.close_source is not None:
            relay.close_source()
        return True

    def relay(
        self, owner: str | None, key: str, kind: RelayKind, *, thread_id: str | None = None
    ) -> Relay:
        """`owner`'s run or subscription `key` (of `thread_id`, if given). Anything else,
        another owner's included, raises the same `NotFoundError`."""
        relay = self.relays.get((owner, key))
        if (
            relay is None
            or relay.kind != kind
            or (thread_id is not None and relay.thread_id != thread_id)
        ):
            raise NotFoundError(
                f"no run or subscription {key!r} is kept here; read the "
                "thread's stored events instead",
                key=key,
            )
        return relay

    def _relay(self, owner: str | None, key: str, kind: RelayKind, thread_id: str) -> Relay:
        if (owner, key) in self.relays:
            raise ThreadlineError(f"id {key!r} is already in use; choose a new one")
        relay = self.relays[owner, key] = Relay(
            key, self.relay_limit, kind=kind, thread_id=thread_id
        )
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        return relay

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(_SWEEP_SECONDS, self.retention))
            now = time.monotonic()
            for key, relay in list(self.relays.items()):
                if relay.detached_at is not None and now - relay.detached_at > self.retention:
                    self._drop(key)

    # -- stopping ----------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop relaying. Turns keep running: close the app to hand them back."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for key in list(self.relays):
            self._drop(key)

    async def join(self, grace: float = 1.0) -> None:
        """After the app closed: wait `grace` seconds for the driven streams to end, then
        stop them."""
        tasks = list(self._drivers)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
