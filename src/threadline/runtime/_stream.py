from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from threadline.types import Event, TurnCancelledError, TurnFailedError, TurnRecord

from ._engine import Engine, StartOptions, StartOutcome, TurnListener
from ._result import TurnResult


class TurnStream:
    """The events of one turn as they happen; `result` once the iteration has ended.

        stream = thread.run_streamed("And in Rome?")
        async for event in stream:
            if event.type == "agent_message_delta":
                print(event.params["delta"], end="")
        print(stream.result.usage)

    Ends with the `completed` event; raises `TurnFailedError` or `TurnCancelledError` after
    yielding `failed` or `cancelled`. Cancelling the task that iterates interrupts the turn.
    With `enqueue_if_busy=True` the stream waits until its queued input has its turn.
    """

    def __init__(self, engine: Engine, thread_id: str, parts: tuple[object, ...],
                 options: StartOptions) -> None:
        self._engine = engine
        self._thread_id = thread_id
        self._parts = parts
        self._options = options
        self._listener = TurnListener()
        self._outcome: StartOutcome | None = None
        self._result: TurnResult | None = None

    @property
    def outcome(self) -> StartOutcome | None:
        """How the input was taken (started, enqueued, duplicate), once iteration began."""
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
            self._outcome = await self._engine.start_turn(
                self._thread_id, self._parts, self._options, self._listener)  # type: ignore[arg-type]
            if self._outcome.kind == "duplicate" and self._listener.active is None and (
                    self._outcome.duplicate_turn is not None):
                self._result = await _stored_result(self._engine, self._outcome.duplicate_turn)
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
            active = self._listener.active
            if active is None or active.task is None:
                raise TurnCancelledError("the app closed before the queued input had its turn")
            self._result = await active.task
        result = self._result
        if result.status == "failed":
            error = result.turn.error or {}
            raise TurnFailedError(f"turn failed: {error.get('message', 'unknown error')}",
                                  turn=result.turn, result=result)
        if result.status == "cancelled":
            raise TurnCancelledError("turn was interrupted", turn=result.turn, result=result)


async def _stored_result(engine: Engine, turn: TurnRecord) -> TurnResult:
    """The result of an earlier turn, rebuilt from the store (for a repeated client key)."""
    items = [i for i in await engine.store.load_items(turn.thread_id) if i.turn_id == turn.turn_id]
    return TurnResult.build(turn, items, None)
