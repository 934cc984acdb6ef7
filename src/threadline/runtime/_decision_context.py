"""The context in which a human's decision on a paused turn is recorded (or the paused turn
ended): the turn's lease and its history, without a model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.types import InvalidInputError, NotFoundError, TurnInProgressError

from ._context import TurnContext
from ._engine_parts import ActiveTurn, external_tools
from ._termination import refuse_if_terminated
from ._turn_events import TurnEvents

if TYPE_CHECKING:
    from ._engine import Engine


async def context_for_decision(
    engine: Engine, thread_id: str, *, ending: bool = False
) -> tuple[TurnContext, ActiveTurn]:
    """A lease and a context on the thread's paused turn, to record a human's decision
    (refused once the thread was terminated), or, with `ending`, to end the turn."""
    thread = await engine.store.get_thread(thread_id)
    if thread is None:
        raise NotFoundError(f"no thread {thread_id!r}", thread_id=thread_id)
    if not ending:
        refuse_if_terminated(thread)
    if thread.active_turn_id is None:
        raise InvalidInputError("the thread has no paused turn", thread_id=thread_id)
    lease = await engine.store.acquire_lease(
        thread_id,
        thread.active_turn_id,
        owner=engine.owner,
        lease_seconds=engine.settings.lease_seconds,
    )
    if lease is None:
        raise TurnInProgressError(
            "the turn is running; decide once it has paused", thread_id=thread_id
        )
    turn = await engine.store.get_turn(thread.active_turn_id)
    assert turn is not None
    history, index = await engine.history_upto(thread, lease.cursor.last_item_seq)
    agent = engine.agent(thread.agent)
    active = ActiveTurn(thread_id, turn.turn_id, lease.epoch, engine.bus)
    events = TurnEvents(
        thread_id=thread_id,
        turn_id=turn.turn_id,
        last_seq=lease.cursor.last_event_seq,
        publish=active.publish,
    )
    ctx = TurnContext(
        store=engine.store,
        thread=thread,
        turn=turn,
        agent=agent,
        model=None,
        budget=agent.budget,
        external_tools=external_tools(turn),
        events=events,
        history=history,
        index=index,
        last_item_seq=lease.cursor.last_item_seq,
        epoch=lease.epoch,
        usage=turn.usage,
        steps=turn.steps,
        state=thread.state,
        faults=engine.faults,
        services=engine,
    )
    return ctx, active
