"""`turn/start`, `turn/steer`, `turn/interrupt`. A turn a client starts runs in the server
and goes on if the client disconnects; its events reach every connection watching the
thread."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from threadline.types import InvalidInputError

from ._jsonrpc import INVALID_REQUEST, JSON, RpcError
from ._params import Params
from ._shapes import input_parts, live_turn, turn_shape

if TYPE_CHECKING:
    from ._session import Handler, Session

# What turn/start does when the thread has an unfinished turn: join it (as Codex does), or
# threadline's other policies.
_ON_BUSY = ("steer", "error", "interrupt")


async def turn_start(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    parts = input_parts(params.list("input"))
    on_busy = params.opt_choice("onBusy", _ON_BUSY) or "steer"
    sender = params.opt_str("sender")
    client_key = params.opt_str("clientUserMessageId")
    watch = await session.watch(thread)
    session.hold(watch)
    stream = thread.run_streamed(
        parts,
        sender=sender,
        on_busy=on_busy,  # type: ignore[arg-type]
        client_key=client_key,
    )
    outcome = await session.hub.start(stream)
    if outcome.duplicate_turn is not None:
        turn = outcome.duplicate_turn
        return {"turn": turn_shape(turn, [])}
    if outcome.turn_id is None:
        raise InvalidInputError("the input was queued, not started", thread_id=thread.id)
    return {"turn": live_turn(outcome.turn_id, "inProgress", started_at=time.time())}


async def turn_steer(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    expected = params.str("expectedTurnId")
    parts = input_parts(params.list("input"))
    record = await thread.reload()
    if record.active_turn_id != expected:
        raise RpcError(
            INVALID_REQUEST,
            f"expected active turn id `{expected}` but found `{record.active_turn_id or 'none'}`",
        )
    await session.watch(thread)
    outcome = await session.hub.start(
        thread.run_streamed(
            parts,
            sender=params.opt_str("sender"),
            on_busy="steer",
            client_key=params.opt_str("clientUserMessageId"),
        )
    )
    return {"turnId": outcome.turn_id or expected}


async def turn_interrupt(session: Session, params: Params) -> JSON:
    thread = await session.thread(params.str("threadId"))
    turn_id = params.str("turnId")
    record = await thread.reload()
    if record.active_turn_id != turn_id:
        raise RpcError(
            INVALID_REQUEST,
            f"expected active turn id `{turn_id}` but found `{record.active_turn_id or 'none'}`",
        )
    watch = session.watches.get(thread.id)
    if watch is not None:
        session.hold(watch)  # `turn/completed` follows this response
    await thread.interrupt()
    return {}


METHODS: dict[str, Handler] = {
    "turn/start": turn_start,
    "turn/steer": turn_steer,
    "turn/interrupt": turn_interrupt,
}
