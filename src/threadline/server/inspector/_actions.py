"""What a person does from the inspector, through the same code the API runs: an answer to
an approval continues the paused turn as an `mcp_approval_response` does (bound to the call
and its arguments, single use), a choice is answered and the turn resumed on a server task,
a fork is the thread manager's fork."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from threadline import Thread, Threadline
from threadline.types import ApprovalRequest, AwaitingInput, InvalidInputError, Item

from ..responses import Drivers
from ..responses._input import Decision
from ..responses._runs import continue_paused


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """An approval or a choice of a thread's paused turn that no one has answered yet."""

    item: Item
    request: ApprovalRequest | AwaitingInput


async def waiting(thread: Thread) -> list[Waiting]:
    """What the thread's paused turn waits for a person to answer, oldest first."""
    if thread.record.status != "awaiting_input" or thread.record.active_turn_id is None:
        return []
    pending = {
        p.tool_call_id
        for p in await thread.pending()
        if isinstance(p, ApprovalRequest | AwaitingInput) and p.thread_id is None
    }
    if not pending:
        return []
    return [
        Waiting(item=item, request=item.payload)
        for item in await thread.items()
        if isinstance(item.payload, ApprovalRequest | AwaitingInput)
        and item.turn_id == thread.record.active_turn_id
        and item.payload.tool_call_id in pending
    ]


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
    asked = [w for w in await waiting(thread) if w.item.item_id == choice_item_id]
    if not asked or not isinstance(asked[0].request, AwaitingInput):
        raise InvalidInputError("no choice of this thread with that id waits for an answer")
    await thread.answer(_value(raw_value))
    driver, first_event = drivers.start(thread, thread.resume_turn_streamed())
    try:
        await first_event
    finally:
        driver.release()


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
