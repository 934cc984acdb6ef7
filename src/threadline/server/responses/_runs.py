"""Starting and continuing the turns that requests ask for. Each turn is driven by a task of
the server, not of the request, so a client that goes away never interrupts it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from threadline import ExternalTool, Subscription, Thread, TurnStream
from threadline._logging import log_failure
from threadline.runtime import (
    StartOptions,
    TurnSettings,
    annotate_paused_turn,
    run_with_options,
    subagent_requests,
)
from threadline.types import (
    ApprovalRequest,
    Event,
    LeaseLost,
    Payload,
    ThreadlineError,
    ToolCall,
    TurnCancelledError,
    TurnFailedError,
    TurnInProgressError,
    UserMessage,
)

from .._errors import APIError, invalid
from ._ids import ResponseRef
from ._input import Decision

logger = logging.getLogger("threadline.server")

_SCAN_PAGE = 1000
_WIND_DOWN_SECONDS = 2.0


@dataclass(eq=False)
class Driver:
    """A turn that a request started, running on its own task."""

    thread_id: str
    task: asyncio.Task[None] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """The request that started the turn no longer reads it."""
        self.released.set()


class Drivers:
    """The server's turn tasks. `close` waits for them once the app has handed back (or
    finished) its turns."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self, thread: Thread, stream: TurnStream, *, delete_after: bool = False
    ) -> tuple[Driver, asyncio.Future[Event | None]]:
        """Drive `stream` on a task of its own. The future resolves with the stream's first
        event once the turn has been taken (None if it yields none), or with the error that
        kept it from starting."""
        driver = Driver(thread_id=thread.id)
        first: asyncio.Future[Event | None] = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(
            self._drive(thread, stream, driver, first, delete_after)
        )
        driver.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return driver, first

    async def _drive(
        self,
        thread: Thread,
        stream: TurnStream,
        driver: Driver,
        first: asyncio.Future[Event | None],
        delete_after: bool,
    ) -> None:
        try:
            try:
                event = await stream.__anext__()
            except StopAsyncIteration:
                event = None
            except (TurnFailedError, TurnCancelledError):
                event = None
            except Exception as exc:
                first.set_exception(exc)
                return
            first.set_result(event)
            with contextlib.suppress(TurnFailedError, TurnCancelledError):
                async for _ in stream:
                    pass
        except LeaseLost:
            pass  # the app is closing: recovery continues the turn
        except Exception as exc:
            log_failure(
                logger, "a turn driven for thread %s stopped unexpectedly", thread.id, exc=exc
            )
        finally:
            if not first.done():
                first.set_exception(
                    APIError(503, "the server is shutting down", code="unavailable", retry=True)
                )
            driver.ended.set()
            if delete_after:
                await driver.released.wait()
                with contextlib.suppress(ThreadlineError):
                    await delete_thread(thread)

    async def close(self) -> None:
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            if not task.done():
                task.cancel()
        if tasks:
            await asyncio.wait(tasks)


@dataclass(kw_only=True)
class Started:
    """A turn segment a request began: the response's id, and the subscription that
    follows it live."""

    ref: ResponseRef
    live: Subscription
    driver: Driver | None
    live_from_start: bool = False  # see `Segment.live_from_start`


async def start_input(
    drivers: Drivers,
    thread: Thread,
    history: Sequence[Payload],
    message: UserMessage | None,
    *,
    client_key: str | None,
    external_tools: Sequence[ExternalTool],
    require_approval: frozenset[str],
    settings: TurnSettings,
    annotations: Mapping[str, Any],
    interrupt_paused: bool,
    buffer: int,
    delete_after: bool,
) -> Started:
    """Start a turn with `history` imported and `message` as its input (None: the turn
    answers the history), or find the one an earlier request with the same client key
    started."""
    live = thread.subscribe(buffer=buffer)
    driver: Driver | None = None
    try:
        stream = run_with_options(
            thread,
            None if message is None else list(message.content),
            StartOptions(
                client_key=client_key,
                on_busy="interrupt" if interrupt_paused else "error",
                external_tools=external_tools,
                require_approval=require_approval,
                settings=settings,
                annotations=annotations,
                history=tuple(history),
            ),
        )
        driver, first_event = drivers.start(thread, stream, delete_after=delete_after)
        first = await first_event
        outcome = stream.outcome
        assert outcome is not None
        assert outcome.turn_id is not None
        fresh = outcome.kind == "started" and first is not None and first.type == "turn_started"
        if fresh:
            assert first is not None
            after = first.seq - 1
        else:
            after = await turn_start(thread, outcome.turn_id)
        return Started(
            ref=ResponseRef(turn_id=outcome.turn_id, after_seq=after),
            live=live,
            driver=driver,
            live_from_start=fresh,
        )
    except BaseException:
        live.close()
        if driver is not None:
            driver.release()
        raise


async def continue_paused(
    drivers: Drivers,
    thread: Thread,
    turn_id: str,
    *,
    decisions: Sequence[Decision],
    outputs: dict[str, str],
    messages: Sequence[UserMessage],
    annotations: Callable[[ResponseRef], Mapping[str, Any] | None],
    buffer: int,
    delete_after: bool,
) -> Started:
    """Record a request's answers to the paused turn and its new messages, then continue
    it. Every answer is checked before the first is stored. `annotations` gives the turn's
    new annotations once the response is known (None: unchanged); it may refuse the request
    by raising."""
    record = await thread.reload()
    pending = await thread.pending()
    approvals = await _approval_calls(thread, turn_id, decisions)
    waiting_calls = {p.tool_call_id for p in pending if isinstance(p, ToolCall)}
    waiting_approvals = {p.tool_call_id for p in pending if isinstance(p, ApprovalRequest)}
    for call_id in outputs:
        if call_id not in waiting_calls:
            raise invalid(
                f"no function call with call_id {call_id!r} waits for output in this conversation",
                param="input",
            )
    for decision, call_id in approvals:
        if call_id not in waiting_approvals:
            raise invalid(
                f"the approval request {decision.approval_request_id!r} was already answered",
                param="input",
            )
    after = record.last_event_seq
    changed = annotations(ResponseRef(turn_id=turn_id, after_seq=after))
    live = thread.subscribe(buffer=buffer)
    driver: Driver | None = None
    try:
        if changed is not None:
            await annotate_paused_turn(thread, turn_id, changed)
        for decision, call_id in approvals:
            if decision.approve:
                await thread.approve(call_id, reason=decision.reason)
            else:
                await thread.deny(call_id, reason=decision.reason)
        if outputs:
            await thread.submit_tool_results(outputs)
        for message in messages:
            await thread.run(list(message.content), on_busy="steer")
        stream = thread.resume_turn_streamed()
        driver, first_event = drivers.start(thread, stream, delete_after=delete_after)
        await first_event
        return Started(ref=ResponseRef(turn_id=turn_id, after_seq=after), live=live, driver=driver)
    except BaseException:
        live.close()
        if driver is not None:
            driver.release()
        raise


async def _approval_calls(
    thread: Thread, turn_id: str, decisions: Sequence[Decision]
) -> list[tuple[Decision, str]]:
    if not decisions:
        return []
    items = [i for i in await thread.items() if i.turn_id == turn_id]
    requests = {
        i.item_id: i.payload.tool_call_id for i in items if isinstance(i.payload, ApprovalRequest)
    }
    # A child thread's approvals that the paused turn waits for (a subagent's).
    requests |= {
        request_id: request.tool_call_id
        for request_id, request in subagent_requests(items).items()
        if isinstance(request, ApprovalRequest)
    }
    found: list[tuple[Decision, str]] = []
    for decision in decisions:
        call_id = requests.get(decision.approval_request_id)
        if call_id is None:
            raise invalid(
                f"no pending approval request {decision.approval_request_id!r} in "
                "this conversation",
                param="input",
            )
        found.append((decision, call_id))
    return found


async def delete_thread(thread: Thread) -> None:
    """Delete the thread; a turn whose end is stored but whose task is still winding down in
    this process does not count as running."""
    deadline = asyncio.get_running_loop().time() + _WIND_DOWN_SECONDS
    while True:
        try:
            await thread.delete()
            return
        except TurnInProgressError:
            record = await thread.reload()
            if record.active_turn_id is not None or (asyncio.get_running_loop().time() > deadline):
                raise
            await asyncio.sleep(0.01)


async def turn_start(thread: Thread, turn_id: str) -> int:
    """The event seq after which the turn's first event comes (its `turn_started`)."""
    after = 0
    while True:
        page = await thread.events(after_seq=after, limit=_SCAN_PAGE)
        for event in page:
            if event.type == "turn_started" and event.turn_id == turn_id:
                return event.seq - 1
        if len(page) < _SCAN_PAGE:
            raise APIError(
                500, "the turn's start is missing from the event log", code="internal_error"
            )
        after = page[-1].seq
