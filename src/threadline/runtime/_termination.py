"""Ending a thread for good. The store marks it terminated (refusing input from then on),
empties its inbox and cancels its timers in one transaction; an unfinished turn is then ended
as cancelled wherever it runs, keeping what it produced, and a `terminated` system event
records the reason: written by the turn's ending, or by `terminate` once no turn is left."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from threadline.store import TERMINATED_CODE, CursorMovedError, Terminate, ThreadCursor
from threadline.types import (
    TERMINATED_PHASE,
    InvalidInputError,
    NotFoundError,
    StoreError,
    SystemEvent,
    ThreadRecord,
    ThreadTerminatedError,
    TurnInProgressError,
    check_text,
    derived_id,
)

from ._context import NewItem, TurnContext
from ._turn_events import item_events, loose_items

if TYPE_CHECKING:
    from ._engine import Engine

_ATTEMPTS = 20


def termination_item_id(thread_id: str) -> str:
    """The id of the item that records why the thread was terminated: one per thread, the same
    in every process, so whichever writes it first writes it once."""
    return "item_" + derived_id(thread_id, TERMINATED_PHASE).partition("_")[2]


def termination_event(reason: str) -> SystemEvent:
    return SystemEvent(
        phase=TERMINATED_PHASE, message=reason or "the thread was terminated", data={}
    )


def checked_reason(reason: Any) -> str:
    if not isinstance(reason, str):
        raise InvalidInputError("the reason must be a string")
    check_text(reason, "the reason")
    if len(reason) > 10_000:
        raise InvalidInputError("the reason is longer than 10000 characters")
    return reason


def refuse_if_terminated(thread: ThreadRecord) -> None:
    if thread.status == "terminated":
        raise ThreadTerminatedError(
            "the thread was terminated: it takes no more input; start a new thread",
            thread_id=thread.thread_id,
        )


async def terminate(engine: Engine, thread_id: str, reason: str) -> ThreadRecord:
    """End the thread for good (see the module), and interrupt its descendants' unfinished
    turns. Returns the terminated thread. A turn that runs in a process that does not stop
    it in time ends when recovery next looks at it."""
    from ._subagents import cancel_children

    record = await _terminate(engine, thread_id, reason)
    await cancel_children(engine, thread_id)
    return record


async def _terminate(engine: Engine, thread_id: str, reason: str) -> ThreadRecord:
    reason = checked_reason(reason)
    for _ in range(_ATTEMPTS):
        thread = await engine.store.get_thread(thread_id)
        if thread is None:
            raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
        (loose,) = loose_items(thread_id, thread.last_item_seq, [termination_event(reason)])
        item = replace(loose, item_id=termination_item_id(thread_id))
        events = item_events([item], thread.last_event_seq)
        try:
            outcome = await engine.store.terminate_thread(
                Terminate(
                    thread_id=thread_id,
                    reason=reason,
                    expected=ThreadCursor(
                        last_item_seq=thread.last_item_seq, last_event_seq=thread.last_event_seq
                    ),
                    items=[item],
                    events=events,
                )
            )
        except CursorMovedError:
            continue
        if outcome.active_turn_id is None:
            if outcome.stored:
                for event in events:
                    engine.bus.publish(event)
            record = await engine.store.get_thread(thread_id)
            if record is None:
                raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
            return record
        try:
            await engine.cancel(thread_id)
        except TurnInProgressError:
            # Its owner did not stop it in time; the store asked it to, and recovery ends it
            # as soon as the owner's lease runs out.
            record = await engine.store.get_thread(thread_id)
            assert record is not None
            return record
        await asyncio.sleep(0)
    raise StoreError(f"could not terminate thread {thread_id}: it kept changing")


async def termination_of(ctx: TurnContext) -> dict[str, Any] | None:
    """The error that terminating the thread gave its unfinished turn, if it did: read from
    the store, since another process may have terminated it. Only an ending asks."""
    turn = await ctx.store.get_turn(ctx.turn.turn_id)
    error = None if turn is None else turn.error
    if error is None or error.get("code") != TERMINATED_CODE:
        return None
    return error


def termination_item(ctx: TurnContext, error: dict[str, Any]) -> NewItem:
    """The item a turn's ending stores when it was ended by a termination."""
    return NewItem(
        item_id=termination_item_id(ctx.thread.thread_id),
        payload=termination_event(str(error.get("message", ""))),
    )
