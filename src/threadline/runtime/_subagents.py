"""Child threads started by tools (subagents): created once per reference id with their input,
followed while the parent's turn runs (their work reaches its stream as `subagent_progress`),
and waited for durably: a child that waits for a human pauses its parent's turn."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

from threadline._redaction import redact
from threadline.store import Spawn
from threadline.types import (
    ApprovalRequest,
    AwaitingInput,
    Budget,
    Event,
    InboxEntry,
    InvalidInputError,
    Item,
    Subagent,
    SubagentLimitError,
    ThreadRecord,
    ThreadStatus,
    ToolError,
    TurnInProgressError,
    Usage,
    new_id,
    payload_to_dict,
)

from ._approvals import call_records
from ._attachments import has_files
from ._context import SUBAGENT_USAGE
from ._engine_parts import StartOutcome, TurnListener, turn_id_for_entry
from ._inbox import wait_for_entry
from ._input import TurnInput, normalize_input, parts_as_json
from ._result import TurnResult
from ._stream import stored_result
from ._subagent_limits import SubagentLimits

if TYPE_CHECKING:
    from ._context import TurnContext
    from ._engine import Engine
    from ._thread import Thread

Request = ApprovalRequest | AwaitingInput
ProgressPhase = Literal["started", "item_completed", "waiting", "ended"]
_PAUSED_POLL_SECONDS = 0.2  # a child paused with nothing left to decide, run by nobody yet


@dataclass(frozen=True, kw_only=True)
class ChildThread:
    """A child thread as its parent's registry lists it: `result` is its latest turn's
    (None before its first turn has started)."""

    thread_id: str
    reference_id: str | None
    agent: str
    status: ThreadStatus
    parent_turn_id: str | None
    created_at: float
    result: TurnResult | None


class ParentTurn(Protocol):
    """The parent side of a spawn: the tool call that spawned, in its current turn context."""

    @property
    def call_id(self) -> str: ...

    @property
    def context(self) -> TurnContext: ...

    async def suspend(self, wait: Subagent) -> None:
        """Pause the parent's turn until it is resumed (the child may then go on)."""
        ...

    def add_usage(self, usage: Usage) -> None: ...


async def spawn(
    engine: Engine,
    parent: ParentTurn,
    agent: str,
    input: TurnInput,
    reference_id: str,
    wait: bool,
) -> TurnResult | Thread:
    """Start (or find, by `reference_id`) the parent's child running `agent` on `input`."""
    from ._thread import Thread

    ctx = parent.context
    engine.agent(agent)  # an agent the app does not have is refused before anything is stored
    if not isinstance(reference_id, str) or not reference_id:
        raise InvalidInputError("a reference id is a non-empty string")
    parts, _ = normalize_input(input, None)
    if has_files(parts):
        raise InvalidInputError(
            "a spawn's input cannot attach files: a child thread starts with none of its own"
        )
    parent_id = ctx.thread.thread_id
    child = await engine.store.get_child(parent_id, reference_id)
    entry_id: str | None = None
    if child is None:
        await _check_limits(engine, ctx, reference_id)
        now = time.time()
        record = ThreadRecord(
            thread_id=new_id("thr"),
            user_id=ctx.thread.user_id,
            resource_id=ctx.thread.resource_id,
            agent=agent,
            parent_id=parent_id,
            reference_id=reference_id,
            parent_turn_id=ctx.turn.turn_id,
            created_at=now,
            updated_at=now,
        )
        entry = InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=record.thread_id,
            position=0,
            input=parts_as_json(redact(parts)),
            created_at=now,
        )
        try:
            spawned = await engine.store.spawn_thread(Spawn(thread=record, entry=entry))
        finally:
            ctx.spawning.discard(reference_id)
        child = spawned.thread
        if spawned.created:
            entry_id = entry.entry_id
            _emit(ctx, progress_params("started", child, parent.call_id))
    elif child.agent != agent:
        raise InvalidInputError(
            f"reference id {reference_id!r} names a child running agent {child.agent!r}"
        )
    turn_id, entry_id = await _first_turn(engine, child, entry_id)
    if not wait:  # following it starts it
        engine.spawn(_forward_while_running(engine, ctx, parent.call_id, child, turn_id, entry_id))
        return Thread(engine, child)
    return await _wait(engine, parent, child, turn_id, entry_id)


async def _check_limits(engine: Engine, ctx: TurnContext, reference_id: str) -> None:
    """Refuse a spawn past the limits; else count it among the turn's children now (its
    calls run in this process, at once)."""
    limits: SubagentLimits = engine.settings.subagent_limits
    depth, thread = 1, ctx.thread
    while thread.parent_id is not None and depth <= limits.max_depth:
        found = await engine.store.get_thread(thread.parent_id)
        if found is None:
            break
        depth, thread = depth + 1, found
    if depth > limits.max_depth:
        raise SubagentLimitError(
            f"cannot spawn: a thread at this depth may not start children (max_depth="
            f"{limits.max_depth})",
            limit="max_depth",
        )
    turn_id = ctx.turn.turn_id
    started = {
        c.reference_id
        for c in await engine.store.list_children(ctx.thread.thread_id)
        if c.parent_turn_id == turn_id
    }
    if len(started | ctx.spawning) >= limits.max_children_per_turn:
        raise SubagentLimitError(
            f"cannot spawn: this turn has started {limits.max_children_per_turn} children "
            f"already (max_children_per_turn)",
            limit="max_children_per_turn",
        )
    ctx.spawning.add(reference_id)


async def _first_turn(
    engine: Engine, child: ThreadRecord, entry_id: str | None
) -> tuple[str, str | None]:
    """The turn the spawn's input is (or becomes): the child's first, which may still be in
    its inbox."""
    if entry_id is not None:
        return turn_id_for_entry(entry_id), entry_id
    turns = await engine.store.list_turns(child.thread_id)
    if turns:
        return min(turns, key=lambda t: t.number).turn_id, None
    inbox = await engine.store.list_inbox(child.thread_id)
    if not inbox:
        raise ToolError(f"the input of child thread {child.thread_id} was removed before it ran")
    return turn_id_for_entry(inbox[0].entry_id), inbox[0].entry_id


async def _wait(
    engine: Engine, parent: ParentTurn, child: ThreadRecord, turn_id: str, entry_id: str | None
) -> TurnResult:
    announced: list[Request] = []  # what the parent's stream last said the child waits for
    while True:
        turn = await engine.store.get_turn(turn_id)
        if turn is not None and turn.is_final:
            result = await stored_result(engine, turn_id, wait=False)
            break
        if turn is not None and turn.status == "awaiting_approval":
            pending = [
                _named(r, child.thread_id, 1) for r in await live_pending(engine, child.thread_id)
            ]
            if pending:
                if pending != announced:
                    announced = pending
                    _emit(
                        parent.context,
                        progress_params("waiting", child, parent.call_id, pending=pending),
                    )
                await parent.suspend(
                    Subagent(
                        spawned_by=parent.call_id,
                        thread_id=child.thread_id,
                        reference_id=child.reference_id or "",
                        agent=child.agent,
                        pending=tuple(pending),
                    )
                )
                continue
        result = await _follow(
            engine, child, turn_id, entry_id, parent.call_id, lambda: parent.context
        )
        if result.status != "paused":
            break
        if not await live_pending(engine, child.thread_id):
            await asyncio.sleep(_PAUSED_POLL_SECONDS)
    parent.add_usage(result.usage + result.subagent_usage)
    _emit(parent.context, ended_params(child, parent.call_id, result))
    return result


async def _follow(
    engine: Engine,
    child: ThreadRecord,
    turn_id: str,
    entry_id: str | None,
    call_id: str,
    context: Callable[[], TurnContext],
) -> TurnResult:
    """Run or follow the child's turn until it ends or pauses, forwarding its work to the
    parent's stream. The parent stopping (an interrupt, a lost lease) stops only this: the
    child's turn goes on, or is handed over, on its own."""
    child_id = child.thread_id
    listener = TurnListener()
    record = await engine.store.get_thread(child_id)
    turn = await engine.store.get_turn(turn_id)
    after = 0 if record is None else record.last_event_seq
    if turn is None:
        if entry_id is None:
            raise ToolError(f"the input of child thread {child_id} was removed before it ran")
        wait_for_entry(engine, child_id, entry_id, after, listener)
        if engine.settings.run_turns:
            engine.spawn(engine.drain(child_id))
        outcome = StartOutcome(kind="enqueued", turn_id=None, entry_id=entry_id)
    else:
        outcome = StartOutcome(kind="stored", turn_id=turn_id)
        if not turn.is_final:
            active = engine.active.get(child_id)
            if active is not None and active.turn_id == turn_id:
                active.attach(listener)
            else:
                if engine.settings.run_turns:
                    active = await engine.continue_turn(child_id, turn_id, listener)
                if active is None:
                    # The parent waits for the child: if the child's process dies, nothing
                    # else may be there to continue it.
                    take_over = engine.settings.run_turns
                    engine.follow(child_id, turn_id, after, listener, take_over=take_over)
    if not listener.fed:
        listener.close()
    try:
        async for event in listener:
            forwarded = forward_params(event, child, call_id)
            if forwarded is not None:
                _emit(context(), forwarded)
    finally:
        listener.close()
    active = listener.active
    if active is not None and active.task is not None:
        await asyncio.wait([active.task])
        task = active.task
        if not task.cancelled() and task.exception() is None:
            return task.result()
    if outcome.turn_id is None and await engine.store.get_turn(turn_id) is None:
        raise ToolError(f"the input of child thread {child_id} was removed before it ran")
    return await stored_result(engine, turn_id, wait=True)


async def _forward_while_running(
    engine: Engine,
    ctx: TurnContext,
    call_id: str,
    child: ThreadRecord,
    turn_id: str,
    entry_id: str | None,
) -> None:
    """A child not waited for: its work reaches the parent's stream while the parent's turn
    runs, and its tokens and cost count in that turn's budget if it ends meanwhile."""
    try:
        result = await _follow(engine, child, turn_id, entry_id, call_id, lambda: ctx)
    except ToolError:
        return
    if result.status != "paused" and _live(ctx):
        ctx.subagent_usage = ctx.subagent_usage + result.usage + result.subagent_usage
        _emit(ctx, ended_params(child, call_id, result))


def _live(ctx: TurnContext) -> bool:
    """The parent's turn still runs in this context: events emitted now are its own."""
    return not ctx.ending and not ctx.lease_lost


def _emit(ctx: TurnContext, params: dict[str, Any]) -> None:
    if _live(ctx):
        ctx.events.emit("subagent_progress", params=params)


def progress_params(
    phase: ProgressPhase,
    child: ThreadRecord,
    call_id: str | None,
    *,
    pending: list[Request] | None = None,
) -> dict[str, Any]:
    """A `subagent_progress` event's params: what happened (`phase`), in which child."""
    params: dict[str, Any] = {
        "phase": phase,
        "thread_id": child.thread_id,
        "reference_id": child.reference_id,
        "agent": child.agent,
        "parent_thread_id": child.parent_id,
        "tool_call_id": call_id,
    }
    if pending is not None:
        params["pending"] = [{"type": p.type, **payload_to_dict(p)} for p in pending]
    return params


def ended_params(child: ThreadRecord, call_id: str | None, result: TurnResult) -> dict[str, Any]:
    return {
        **progress_params("ended", child, call_id),
        "status": result.status,
        "turn_id": result.turn_id,
        "text": result.text,
        "usage": result.usage.to_dict(),
        "error": result.turn.error,
    }


def forward_params(event: Event, child: ThreadRecord, call_id: str | None) -> dict[str, Any] | None:
    """What the parent's stream carries of one event of its child: each completed item, and
    the progress of the child's own children as they reported it."""
    if event.type == "item_completed":
        return {**progress_params("item_completed", child, call_id), "item": event.params["item"]}
    if event.type == "subagent_progress":
        return dict(event.params)
    return None


async def live_pending(engine: Engine, thread_id: str, depth: int = 0) -> list[Request]:
    """What the thread's paused turn waits for from a human as the store has it now, with
    the requests of the children it waits for (each naming its child's `thread_id`)."""
    thread = await engine.store.get_thread(thread_id)
    if thread is None or thread.active_turn_id is None or depth > 16:
        return []
    turn = await engine.store.get_turn(thread.active_turn_id)
    if turn is None or turn.status != "awaiting_approval":
        return []
    items = (await stored_result(engine, turn.turn_id, wait=False)).items
    found: list[Request] = []
    for record in call_records(items).values():
        if record.request is not None and record.response is None:
            found.append(_named(record.request, thread_id, depth))
        if record.awaiting is not None and record.answer is None:
            found.append(_named(record.awaiting, thread_id, depth))
        if record.result is None:
            for child_id in record.waits:
                found.extend(await live_pending(engine, child_id, depth + 1))
    return found


def _named(request: Request, thread_id: str, depth: int) -> Request:
    if depth == 0 or request.thread_id is not None:
        return request
    return replace(request, thread_id=thread_id)


def tighter_budget(budget: Budget, limit: Budget, used: Usage) -> Budget:
    """`budget`, with its tokens and cost held within what `limit` leaves after `used`."""
    tokens, cost = budget.max_tokens, budget.max_cost_usd
    if limit.max_tokens is not None:
        left = max(0, limit.max_tokens - used.total_tokens)
        tokens = left if tokens is None else min(tokens, left)
    if limit.max_cost_usd is not None and used.cost_usd is not None:
        left_usd = max(0.0, limit.max_cost_usd - used.cost_usd)
        cost = left_usd if cost is None else min(cost, left_usd)
    return replace(budget, max_tokens=tokens, max_cost_usd=cost)


async def tree_budget(engine: Engine, thread: ThreadRecord, budget: Budget) -> Budget:
    """A child's budget within what each unfinished ancestor turn has left: the tokens and
    cost of a tree of threads count against the budget of the turn at its root."""
    while thread.parent_id is not None and thread.parent_turn_id is not None:
        parent = await engine.store.get_thread(thread.parent_id)
        turn = await engine.store.get_turn(thread.parent_turn_id)
        agent = None if parent is None else engine.agents.get(parent.agent)
        if parent is None or turn is None or turn.is_final or agent is None:
            break
        limit = agent.budget.merged(Budget.from_dict(turn.options.get("budget")))
        used = turn.usage + Usage.from_dict(turn.options.get(SUBAGENT_USAGE))
        budget = tighter_budget(budget, limit, used)
        thread = parent
    return budget


async def wake_parent(engine: Engine, child: ThreadRecord) -> None:
    """A child's turn ended: let its parent's paused turn look again now, here if this
    process runs turns (the store woke it for recovery already)."""
    parent_id = child.parent_id
    if parent_id is None or not engine.settings.run_turns or engine.closing:
        return
    parent = await engine.store.get_thread(parent_id)
    if parent is None or parent.active_turn_id is None or parent.lease_owner is not None:
        return
    turn = await engine.store.get_turn(parent.active_turn_id)
    if turn is None or turn.status != "awaiting_approval":
        return
    items = (await stored_result(engine, turn.turn_id, wait=False)).items
    waiting = any(
        child.thread_id in r.waits and r.result is None for r in call_records(items).values()
    )
    if waiting:
        await _continue_quietly(engine, parent_id, turn.turn_id)


async def interrupt(engine: Engine, thread_id: str) -> bool:
    """Interrupt the thread's unfinished turn, then its descendants'. False if the thread
    had none."""
    cancelled = await engine.cancel(thread_id)
    await cancel_children(engine, thread_id)
    return cancelled


async def cancel_children(engine: Engine, thread_id: str) -> None:
    """Interrupt the unfinished turn of every descendant of the thread, deepest first."""
    for child in await engine.store.list_children(thread_id):
        await cancel_children(engine, child.thread_id)
        if child.active_turn_id is not None:
            await engine.cancel(child.thread_id)


async def child_info(engine: Engine, child: ThreadRecord) -> ChildThread:
    turns = await engine.store.list_turns(child.thread_id)
    result = None
    if turns:
        last = max(turns, key=lambda t: t.number)
        result = await stored_result(engine, last.turn_id, wait=False)
    return ChildThread(
        thread_id=child.thread_id,
        reference_id=child.reference_id,
        agent=child.agent,
        status=child.status,
        parent_turn_id=child.parent_turn_id,
        created_at=child.created_at,
        result=result,
    )


def subagent_request_id(item_id: str, number: int) -> str:
    """The id under which a parent announces the `number`th request of a `subagent` item (a
    client of the parent answers it by that id, as it does an `approval_request` item's)."""
    return f"{item_id}/{number}"


def subagent_requests(items: Sequence[Item]) -> dict[str, Request]:
    """The requests the `subagent` items among `items` announced, by their ids."""
    return {
        subagent_request_id(i.item_id, n): request
        for i in items
        if isinstance(i.payload, Subagent)
        for n, request in enumerate(i.payload.pending)
    }


def thread_handle(engine: Engine, record: ThreadRecord) -> Thread:
    from ._thread import Thread

    return Thread(engine, record)


async def blocked_children(engine: Engine, waits: Mapping[str, Subagent]) -> set[str]:
    """The children among `waits` that still wait for a human."""
    return {child_id for child_id in waits if await live_pending(engine, child_id)}


async def continue_children(
    engine: Engine, waits: Mapping[str, Subagent], blocked: set[str]
) -> str | None:
    """For a call that was cut off while it waited for children and is not run again: None
    while some child is unfinished (each that may go on is continued here, and its end wakes
    the parent), else how each ended, for the call's result."""
    ends: list[str] = []
    unfinished = False
    for child_id, wait in waits.items():
        child = await engine.store.get_thread(child_id)
        if child is not None and child.active_turn_id is not None:
            unfinished = True
            if child_id not in blocked and engine.settings.run_turns:
                engine.spawn(_continue_quietly(engine, child_id, child.active_turn_id))
            continue
        info = None if child is None else await child_info(engine, child)
        result = None if info is None else info.result
        ends.append(
            f"Subagent {wait.reference_id!r} (thread {child_id}) "
            + ("is gone." if result is None else f"ended {result.status}: {result.text}")
        )
    return None if unfinished else " ".join(ends)


async def _continue_quietly(engine: Engine, thread_id: str, turn_id: str) -> None:
    with contextlib.suppress(TurnInProgressError):  # another process runs it
        await engine.continue_turn(thread_id, turn_id, None)
