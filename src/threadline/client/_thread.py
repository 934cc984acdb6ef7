"""`RemoteThread`: the operations of `threadline.Thread`, carried out by a server."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from threadline import ScheduledCall, TurnResult
from threadline.models import ToolSpec
from threadline.runtime import TurnInput
from threadline.server.codex._wire import (
    event_from_wire,
    inbox_from_wire,
    item_from_wire,
    payload_from_wire,
    payload_to_wire,
    response_from_wire,
    span_from_wire,
    step_from_wire,
    thread_from_wire,
    timer_from_wire,
    turn_from_wire,
)
from threadline.types import (
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    Budget,
    Event,
    InboxEntry,
    Item,
    Payload,
    SpanRecord,
    StepRecord,
    ThreadRecord,
    TimerRecord,
    ToolCall,
    TurnRecord,
)

from ._input import input_to_wire
from ._stream import RemoteSubscription, RemoteTurnStream
from ._thread_env import RemoteThreadEnv
from ._thread_family import RemoteThreadFamily
from ._thread_files import RemoteThreadFiles
from ._thread_messages import RemoteThreadMessages

if TYPE_CHECKING:
    from ._app import RemoteThreadline

OnBusy = str
DEFAULT_BUFFER = 10_000


class RemoteThread(RemoteThreadMessages, RemoteThreadFiles, RemoteThreadEnv, RemoteThreadFamily):
    """A handle on one thread of a remote app; the same methods as `threadline.Thread`.

    thread = await app.threads.start(user_id="me")
    result = await thread.run("What's the weather in Paris?")
    """

    def __init__(self, app: RemoteThreadline, record: ThreadRecord) -> None:
        self._app = app
        self.record = record
        self._subscriptions: list[RemoteSubscription] = []

    def __repr__(self) -> str:
        return f"RemoteThread({self.id!r}, agent={self.record.agent!r})"

    @property
    def id(self) -> str:
        return self.record.thread_id

    @property
    def user_id(self) -> str | None:
        return self.record.user_id

    def _relative(self, record: ThreadRecord) -> RemoteThread:
        return RemoteThread(self._app, record)

    async def _call(self, method: str, **params: Any) -> Any:
        return await self._app.call(f"threadline/thread/{method}", threadId=self.id, **params)

    async def _record(self, method: str, **params: Any) -> ThreadRecord:
        self.record = thread_from_wire((await self._call(method, **params))["thread"])
        return self.record

    async def reload(self) -> ThreadRecord:
        """Read the thread again from the server and return the fresh record."""
        return await self._record("read")

    # -- turns -------------------------------------------------------------------------------

    def run_streamed(
        self,
        input: TurnInput,
        *,
        sender: str | None = None,
        on_busy: OnBusy = "error",
        enqueue_if_busy: bool = False,
        client_key: str | None = None,
        budget: Budget | None = None,
        external_tools: Sequence[ToolSpec] = (),
        require_approval: Collection[str] = (),
    ) -> RemoteTurnStream:
        """Start a turn on the server and stream its events; see `threadline.Thread.run`."""
        params: dict[str, Any] = {
            "threadId": self.id,
            "input": input_to_wire(input),
            "sender": sender,
            "onBusy": "enqueue" if enqueue_if_busy else on_busy,
            "clientKey": client_key,
            "budget": budget.to_dict() if budget is not None else None,
            "externalTools": [
                {"name": t.name, "description": t.description, "parameters": t.parameters}
                for t in external_tools
            ]
            or None,
            "requireApproval": sorted(require_approval) or None,
        }
        return self._app.stream("threadline/turn/run", params)

    async def run(
        self,
        input: TurnInput,
        *,
        sender: str | None = None,
        on_busy: OnBusy = "error",
        enqueue_if_busy: bool = False,
        client_key: str | None = None,
        budget: Budget | None = None,
        external_tools: Sequence[ToolSpec] = (),
        require_approval: Collection[str] = (),
    ) -> TurnResult:
        """Run one turn on the server to its end (or its pause) and return its result.
        Raises `TurnFailedError`, `TurnCancelledError`, `TurnInProgressError`."""
        return await _consume(
            self.run_streamed(
                input,
                sender=sender,
                on_busy=on_busy,
                enqueue_if_busy=enqueue_if_busy,
                client_key=client_key,
                budget=budget,
                external_tools=external_tools,
                require_approval=require_approval,
            )
        )

    # -- humans in the loop ------------------------------------------------------------------

    async def pending(self) -> list[ApprovalRequest | AwaitingInput | ToolCall]:
        """What the thread's paused turn waits for: approvals, choices, and the results of
        client-side tool calls."""
        found: list[ApprovalRequest | AwaitingInput | ToolCall] = []
        for data in (await self._call("pending"))["pending"]:
            payload = payload_from_wire(data)
            if isinstance(payload, ApprovalRequest | AwaitingInput | ToolCall):
                found.append(payload)
        return found

    async def submit_tool_results(
        self, outputs: Mapping[str, str], *, errors: Collection[str] = ()
    ) -> list[Item]:
        """Record results of client-side tool calls (`{tool_call_id: output}`; ids in
        `errors` are failed calls); continue with `resume_turn()`."""
        data = await self._call("submitToolResults", outputs=dict(outputs), errors=list(errors))
        return [item_from_wire(i) for i in data["items"]]

    async def approve(
        self,
        tool_call_id: str,
        *,
        reason: str | None = None,
        always: bool = False,
        sender: str | None = None,
    ) -> ApprovalResponse:
        """Approve a pending tool call; continue the turn with `resume_turn()`."""
        data = await self._call(
            "approve", toolCallId=tool_call_id, reason=reason, always=always, sender=sender
        )
        return response_from_wire(data["response"])

    async def deny(
        self,
        tool_call_id: str,
        *,
        reason: str | None = None,
        always: bool = False,
        sender: str | None = None,
    ) -> ApprovalResponse:
        """Deny a pending tool call: the model receives a denial and nothing runs."""
        data = await self._call(
            "deny", toolCallId=tool_call_id, reason=reason, always=always, sender=sender
        )
        return response_from_wire(data["response"])

    def resume_turn_streamed(self) -> RemoteTurnStream:
        """Continue the thread's paused turn on the server, streaming its events."""
        return self._app.stream("threadline/turn/resume", {"threadId": self.id})

    async def resume_turn(self) -> TurnResult:
        """Continue the thread's paused turn, after approvals were decided."""
        return await _consume(self.resume_turn_streamed())

    async def answer(self, value: Any, *, sender: str | None = None) -> Item:
        """Record the answer to the choice a tool waits for (`await_choice`)."""
        return item_from_wire((await self._call("answer", value=value, sender=sender))["item"])

    async def resume(self, value: Any, *, sender: str | None = None) -> TurnResult:
        """`answer(value)`, then `resume_turn()`."""
        await self.answer(value, sender=sender)
        return await self.resume_turn()

    # -- scheduled effects -------------------------------------------------------------------

    async def schedule(
        self,
        effect: TurnInput | ScheduledCall,
        *,
        at: float | None = None,
        delay: float | None = None,
    ) -> TimerRecord:
        """Post input (or make a `ScheduledCall`) on this thread later, durably."""
        if isinstance(effect, ScheduledCall):
            target: dict[str, Any] = {"call": {"name": effect.name, "arguments": effect.arguments}}
        else:
            target = {"input": input_to_wire(effect)}
        data = await self._call("schedule", at=at, delay=delay, **target)
        return timer_from_wire(data["timer"])

    async def scheduled(self) -> list[TimerRecord]:
        return [timer_from_wire(t) for t in (await self._call("scheduled"))["timers"]]

    async def cancel_scheduled(self, timer_id: str) -> bool:
        return bool((await self._call("cancelScheduled", timerId=timer_id))["cancelled"])

    async def enqueue(
        self, input: TurnInput, *, sender: str | None = None, client_key: str | None = None
    ) -> InboxEntry:
        """Queue input for its own turn after the running one (stored when this returns)."""
        data = await self._call(
            "enqueue", input=input_to_wire(input), sender=sender, clientKey=client_key
        )
        return inbox_from_wire(data["entry"])

    async def interrupt(self) -> bool:
        """Cancel the unfinished turn, keeping what it produced. False if there was none."""
        return bool((await self._call("interrupt"))["interrupted"])

    async def turns(self) -> list[TurnRecord]:
        return [turn_from_wire(t) for t in (await self._call("turns"))["turns"]]

    async def steps(self, turn_id: str) -> list[StepRecord]:
        """The steps of one of this thread's turns, oldest first (empty for a turn it does
        not have)."""
        data = await self._call("steps", turnId=turn_id)
        return [step_from_wire(s) for s in data["steps"]]

    async def trace(self, turn_id: str) -> list[SpanRecord]:
        """The stored spans of one of this thread's turns, each after its parent (empty for a
        turn it does not have)."""
        data = await self._call("trace", turnId=turn_id)
        return [span_from_wire(s) for s in data["spans"]]

    async def inbox(self) -> list[InboxEntry]:
        return [inbox_from_wire(e) for e in (await self._call("inbox"))["entries"]]

    # -- reading -----------------------------------------------------------------------------

    async def items(self, *, after_seq: int = 0, limit: int | None = None) -> list[Item]:
        """The stored history, oldest first."""
        data = await self._call("items", afterSeq=after_seq, limit=limit)
        return [item_from_wire(i) for i in data["items"]]

    async def events(self, *, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        """The stored event log after `after_seq` (deltas coalesced)."""
        data = await self._call("events", afterSeq=after_seq, limit=limit)
        return [event_from_wire(e) for e in data["events"]]

    def subscribe(self, *, buffer: int = DEFAULT_BUFFER) -> RemoteSubscription:
        """Receive every event of this thread from now on, including turns other clients
        start. The subscription is an async iterator, awaitable (once the server has taken
        it) and an async context manager that closes it."""
        subscription = self._app.subscription(self.id, buffer)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self) -> asyncio.Future[None]:
        """End every subscription made through this handle, at once; awaiting the result
        waits until the server has let them go."""
        for subscription in self._subscriptions:
            subscription.close()
        leaving = [s.leaving for s in self._subscriptions if s.leaving is not None]
        self._subscriptions.clear()
        return asyncio.ensure_future(_all_done(leaving))

    # -- changing ----------------------------------------------------------------------------

    async def set_mode(self, mode: str | None) -> ThreadRecord:
        """Switch the agent mode from the next turn on."""
        return await self._record("setMode", mode=mode)

    async def archive(self) -> ThreadRecord:
        """Close the thread to new input and hide it from default listings."""
        return await self._record("archive")

    async def unarchive(self) -> ThreadRecord:
        return await self._record("unarchive")

    async def delete(self) -> bool:
        """Delete the thread and everything stored for it."""
        await self.unsubscribe()
        return bool((await self._call("delete"))["deleted"])

    async def set_metadata(self, metadata: dict[str, Any]) -> ThreadRecord:
        return await self._record("setMetadata", metadata=metadata)

    async def append(self, items: Sequence[Payload]) -> list[Item]:
        """Add items to the history outside any turn (refused while one is unfinished)."""
        data = await self._call("append", items=[payload_to_wire(p) for p in items])
        return [item_from_wire(i) for i in data["items"]]

    async def rollback(self, turns: int = 1) -> ThreadRecord:
        """Take the last `turns` finished turns out of the history the model sees."""
        return await self._record("rollback", turns=turns)

    async def delete_item(self, item_id: str) -> bool:
        """Take an item out of the history the model sees. False if there is none."""
        return bool((await self._call("deleteItem", itemId=item_id))["deleted"])


async def _all_done(tasks: list[asyncio.Task[Any]]) -> None:
    if tasks:  # cut off when the client closes: the server lets them go with the connection
        await asyncio.wait(tasks)


async def _consume(stream: RemoteTurnStream) -> TurnResult:
    async for _ in stream:
        pass
    return stream.result
