"""One turn as durable steps: model step, tool step, repeat; then exactly one ending."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from threadline.types import (
    BudgetExceededError,
    ErrorPayload,
    ItemStatus,
    LeaseLost,
    SystemEvent,
    ThreadlineError,
    ToolCall,
    TurnStatus,
)

from ._context import NewItem, TurnContext, new_item
from ._history import DISCARD_PHASE, unanswered_calls
from ._model_step import ModelStep
from ._result import TurnResult
from ._tool_step import ToolStep

logger = logging.getLogger("threadline.runtime")


class TurnRunner:
    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self._model_step: ModelStep | None = None
        self._tool_step: ToolStep | None = None

    async def run(self) -> TurnResult:
        """Run to one ending. Cancellation of the calling task ends the turn as cancelled."""
        try:
            async with asyncio.timeout_at(self._deadline()):
                await self._loop()
        except BudgetExceededError as exc:
            await self._end("failed", exc.to_dict(), "budget")
        except TimeoutError:
            budget = self.ctx.budget
            assert budget.max_wall_seconds is not None
            error = BudgetExceededError("max_wall_seconds", budget.max_wall_seconds,
                                        time.time() - self.ctx.turn.created_at)
            await self._end("failed", error.to_dict(), "budget")
        except asyncio.CancelledError:
            await asyncio.shield(self._end("cancelled", None, "interrupt"))
        except LeaseLost:
            raise
        except ThreadlineError as exc:
            await self._end("failed", exc.to_dict(), "error")
        except Exception as exc:
            logger.exception("turn %s failed unexpectedly", self.ctx.turn.turn_id)
            await self._end("failed", {"code": "internal_error",
                                       "message": f"internal error ({type(exc).__name__})"},
                            "error")
        return TurnResult.from_context(self.ctx)

    def _deadline(self) -> float | None:
        wall = self.ctx.budget.max_wall_seconds
        if wall is None:
            return None
        remaining = self.ctx.turn.created_at + wall - time.time()
        return asyncio.get_running_loop().time() + remaining

    async def _loop(self) -> None:
        ctx = self.ctx
        budget = ctx.budget
        while True:
            if budget.max_iterations is not None and ctx.steps >= budget.max_iterations:
                raise BudgetExceededError("max_iterations", budget.max_iterations, ctx.steps)
            step = self._model_step = ModelStep(ctx)
            response = await step.run()
            ctx.steps += 1
            ctx.usage = ctx.usage + response.usage
            ctx.events.emit("usage_delta", params={"usage": response.usage.to_dict(),
                                                   "total": ctx.usage.to_dict()})
            items = await ctx.commit(step.final_items())
            self._model_step = None
            self._check_usage()
            calls = [i for i in items if isinstance(i.payload, ToolCall)]
            if calls:
                tool_step = self._tool_step = ToolStep(ctx, calls)
                await tool_step.run()
                self._tool_step = None
                continue
            if await self._needs_repair(response.text):
                continue
            await self._complete(response.text)
            return

    def _check_usage(self) -> None:
        ctx, budget = self.ctx, self.ctx.budget
        if budget.max_tokens is not None and ctx.usage.total_tokens > budget.max_tokens:
            raise BudgetExceededError("max_tokens", budget.max_tokens, ctx.usage.total_tokens)
        cost = ctx.usage.cost_usd
        if budget.max_cost_usd is not None and cost is not None and cost > budget.max_cost_usd:
            raise BudgetExceededError("max_cost_usd", budget.max_cost_usd, cost)

    async def _needs_repair(self, text: str) -> bool:
        ctx = self.ctx
        spec = ctx.agent.output
        if spec is None:
            return False
        value, problems = spec.validate(text)
        if problems is None:
            ctx.output = value
            return False
        if ctx.repairs >= ctx.agent.output_repair_attempts:
            raise _OutputInvalid(problems, ctx.repairs)
        ctx.repairs += 1
        message = spec.repair_prompt(problems)
        data = {"attempt": ctx.repairs, "problems": problems}
        ctx.events.emit("system_event", params={"phase": "repair", "message": message,
                                                "data": data})
        await ctx.commit([new_item(SystemEvent(phase="repair", message=message, data=data))])
        return True

    async def _complete(self, text: str) -> None:
        ctx = self.ctx
        output = ctx.output
        if output is not None and hasattr(output, "model_dump"):
            output = output.model_dump(mode="json")
        await ctx.commit([], turn_status="completed", release=True, terminal=(
            "completed", {"status": "completed", "text": text, "output": output,
                          "usage": ctx.usage.to_dict()}))

    async def _end(self, status: TurnStatus, error: dict[str, Any] | None, phase: str) -> None:
        """End the turn as failed or cancelled: keep what was produced (unless the agent says
        otherwise), answer every open tool call, and release the thread, in one commit."""
        ctx = self.ctx
        keep = ctx.agent.persist_partial_on_error
        item_status: ItemStatus = "cancelled" if status == "cancelled" else "failed"
        items: list[NewItem] = []
        if keep and self._model_step is not None:
            items += self._model_step.partial_items(item_status)
        finished = {}
        if keep and self._tool_step is not None:
            finished = {r.payload.tool_call_id: r  # type: ignore[union-attr]
                        for r in self._tool_step.finished}
        reason = ("the turn was interrupted before this tool call finished"
                  if status == "cancelled" else "the turn failed before this tool call finished")
        for call_item in unanswered_calls(ctx.turn_items()):
            call = call_item.payload
            assert isinstance(call, ToolCall)
            result = finished.get(call.tool_call_id)
            if result is None:
                from threadline.types import ToolResult

                result = new_item(ToolResult(
                    tool_call_id=call.tool_call_id, name=call.name, output=f"Error: {reason}.",
                    outcome="cancelled"))
            items.append(result)
        if error is not None:
            items.append(new_item(ErrorPayload(code=str(error.get("code", "error")),
                                               message=str(error.get("message", "")))))
        if not keep:
            items.append(new_item(SystemEvent(
                phase=DISCARD_PHASE, message="this turn's output is hidden from the model",
                data={"turn_id": ctx.turn.turn_id})))
        if status == "cancelled":
            terminal = ("cancelled", {"status": "cancelled", "reason": phase,
                                      "usage": ctx.usage.to_dict()})
        else:
            terminal = ("failed", {"status": "failed", "error": error,
                                   "usage": ctx.usage.to_dict()})
        await ctx.commit(items, turn_status=status, release=True, error=error, terminal=terminal)


class _OutputInvalid(ThreadlineError):
    code = "output_invalid"

    def __init__(self, problems: str, attempts: int) -> None:
        super().__init__(f"the answer did not match the output schema after {attempts} "
                         f"repair attempt(s): {problems}", attempts=attempts)


