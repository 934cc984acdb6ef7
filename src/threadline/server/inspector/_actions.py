"""What a person does from the inspector, through the same code the API runs: an answer to
an approval continues the paused turn as an `mcp_approval_response` does (bound to the call
and its arguments, single use), a choice is answered and the turn resumed on a server task,
a fork is the thread manager's fork."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from threadline import Thread, Threadline
from threadline.runtime import subagent_requests
from threadline.types import ApprovalRequest, AwaitingInput, InvalidInputError

from ..responses import Drivers
from ..responses._input import Decision
from ..responses._runs import continue_paused


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """An approval or a choice that a thread's paused turn waits for a person to answer: its
    own, or one of a child thread it waits for (`request.thread_id` names the child).
    `request_id` is what the answer names: the request's item, or the `subagent` item's
    announcement of a child's request, as the Responses API names them."""

    request_id: str
    request: ApprovalRequest | AwaitingInput

    @property
    def kind(self) -> str:
        return "approval_request" if isinstance(self.request, ApprovalRequest) else "awaiting_input"


async def waiting(thread: Thread) -> list[Waiting]:
    """What the thread's paused turn waits for a person to answer, its own first."""
    turn_id = thread.record.active_turn_id
    if thread.record.status != "awaiting_input" or turn_id is None:
        return []
    pending = [p for p in await thread.pending() if isinstance(p, ApprovalRequest | AwaitingInput)]
    if not pending:
        return []
    items = [i for i in await thread.items() if i.turn_id == turn_id]
    own = {
        i.payload.tool_call_id: i.item_id
        for i in items
        if isinstance(i.payload, ApprovalRequest | AwaitingInput)
    }
    announced = {
        (request.thread_id, request.tool_call_id): request_id
        for request_id, request in subagent_requests(items).items()
    }
    found: list[Waiting] = []
    for request in pending:
        request_id = (
            own.get(request.tool_call_id)
            if request.thread_id is None
            else announced.get((request.thread_id, request.tool_call_id))
        )
        if request_id is not None:
            found.append(Waiting(request_id=request_id, request=request))
    return found


async def decide(
    drivers: Drivers, thread: Thread, approval_item_id: str, *, approve: bool, buffer: int
) -> None:
    """Approve or deny the call the approval request `approval_item_id` names, then let the
    turn go on in the background."""
    record = await thread.reload()
    if record.active_turn_id is None:
        raise InvalidInputError("no turn of this thread waits for an answer")
    decision = Decision(
        where="decision", approval_request_id=approval_item_id, approve=approve, reason=None
    )
    started = await continue_paused(
        drivers,
        thread,
        record.active_turn_id,
        decisions=[decision],
        outputs={},
        messages=[],
        annotations=lambda _: None,
        buffer=buffer,
        delete_after=False,
    )
    started.live.close()
    if started.driver is not None:
        started.driver.release()


async def choose(drivers: Drivers, thread: Thread, choice_item_id: str, raw_value: str) -> None:
    """Answer the choice `choice_item_id` asks (the value as JSON, else as text), then let
    the turn go on in the background."""
    await thread.reload()
    asked = [w for w in await waiting(thread) if w.request_id == choice_item_id]
    if not asked or not isinstance(asked[0].request, AwaitingInput):
        raise InvalidInputError("no choice of this thread with that id waits for an answer")
    await (await _holder(thread, asked[0].request.thread_id)).answer(_value(raw_value))
    driver, first_event = drivers.start(thread, thread.resume_turn_streamed())
    try:
        await first_event
    finally:
        driver.release()


async def _holder(thread: Thread, child_id: str | None) -> Thread:
    """The thread that asked: `thread`, or its child `child_id` (a subagent's choice)."""
    if child_id is None:
        return thread
    [reference] = [c.reference_id for c in await thread.children() if c.thread_id == child_id]
    child = None if reference is None else await thread.child(reference)
    if child is None:
        raise InvalidInputError("no choice of this thread with that id waits for an answer")
    return child


async def fork(app: Threadline, thread: Thread, upto_seq: str) -> Thread:
    """A new thread with the history of `thread` up to the item `upto_seq`."""
    try:
        seq = int(upto_seq)
    except ValueError:
        raise InvalidInputError("fork from an item's position (a whole number)") from None
    return await app.threads.fork(thread.id, upto_seq=seq)


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw
