from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from threadline.store import TERMINATED_CODE
from threadline.types import Event, TurnCancelledError, TurnFailedError, TurnRecord

from ._engine_parts import StartOutcome, TurnListener, turn_id_for_entry
from ._result import TurnResult

if TYPE_CHECKING:
    from ._engine import Engine

Starter = Callable[[TurnListener], Awaitable[StartOutcome]]
_POLL_SECONDS = 0.05


class TurnStream:
    """The events of one turn as they happen; `result` once the iteration has ended.

        stream = thread.run_streamed("And in Rome?")
        async for event in stream:
            if event.type == "agent_message_delta":
                print(event.params["delta"], end="")
        print(stream.result.usage)

    Ends after `completed`, or when the turn pauses for a human (`result.status ==
    "paused"`); raises `TurnFailedError` or `TurnCancelledError` after yielding `failed` or
    `cancelled`. Cancelling the task that iterates interrupts the turn. Input that was queued
    (or joined a turn running elsewhere) is followed until its turn ends, in whichever process
    that turn runs.
    """

    def __init__(self, engine: Engine, start: Starter) -> None:
        self._engine = engine
        self._start = start
        self._listener = TurnListener()
        self._outcome: StartOutcome | None = None
        self._result: TurnResult | None = None

    @property
    def outcome(self) -> StartOutcome | None:
        """How the input was taken (started, enqueued, steered, duplicate), once iterated."""
        return self._outcome

    @property
    def result(self) -> TurnResult:
        if self._result is None:
            raise RuntimeError("the stream has not ended yet: iterate it to the end first")
        return self._result

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._outcome is None:
            self._outcome = await self._start(self._listener)
            if not self._listener.fed:
                self._listener.close()
        try:
            return await self._listener.__anext__()
        except StopAsyncIteration:
            await self._finish()
            raise
        except asyncio.CancelledError:
            active = self._listener.active
            if active is not None and active.task is not None and not active.task.done():
                active.task.cancel()
                await asyncio.wait([active.task])
            raise

    async def _finish(self) -> None:
        if self._result is None:
            self._result = await self._await_result()
        result = self._result
        if result.status == "failed":
            error = result.turn.error or {}
            raise TurnFailedError(
                f"turn failed: {error.get('message', 'unknown error')}",
                turn=result.turn,
                result=result,
            )
        if result.status == "cancelled":
            error = result.turn.error
            message = (
                f"turn was interrupted: the thread was terminated: {error.get('message', '')}"
                if error is not None and error.get("code") == TERMINATED_CODE
                else "turn was interrupted"
            )
            raise TurnCancelledError(message, turn=result.turn, result=result)

    async def _await_result(self) -> TurnResult:
        active = self._listener.active
        if active is not None and active.task is not None:
            return await active.task
        outcome = self._outcome
        assert outcome is not None
        turn_id = outcome.turn_id
        if turn_id is None and outcome.entry_id is not None:
            turn_id = turn_id_for_entry(outcome.entry_id)
            if not self._engine.closing and await self._engine.store.get_turn(turn_id) is None:
                # The queued input's follower ended without a turn: the entry went.
                raise TurnCancelledError("the queued input was removed before it ran")
        if turn_id is None:
            raise TurnCancelledError("the input was not started")
        return await stored_result(self._engine, turn_id, wait=True)


async def stored_result(engine: Engine, turn_id: str, *, wait: bool) -> TurnResult:
    """The result of a turn rebuilt from the store; with `wait`, once it ends or pauses."""
    while True:
        turn = await engine.store.get_turn(turn_id)
        if turn is not None and (not wait or turn.is_final or turn.status == "awaiting_approval"):
            return await _rebuild(engine, turn)
        if engine.closing:
            raise TurnCancelledError("the app closed before the turn ended")
        await asyncio.sleep(_POLL_SECONDS)


async def _rebuild(engine: Engine, turn: TurnRecord) -> TurnResult:
    items = [i for i in await engine.store.load_items(turn.thread_id) if i.turn_id == turn.turn_id]
    return TurnResult.build(turn, items, None)
