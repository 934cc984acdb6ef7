"""One turn as durable steps. The loop decides only from stored items, so a fresh turn, a turn
resumed after an approval and a turn recovered after a crash all enter it the same way."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from threadline._logging import log_failure
from threadline._redaction import redact
from threadline.store import FileOp, ToolCallState
from threadline.types import (
    TERMINATED_PHASE,
    AgentMessage,
    BudgetExceededError,
    ErrorPayload,
    Item,
    ItemStatus,
    LeaseLost,
    StepRecord,
    StepStatus,
    SystemEvent,
    ThreadlineError,
    ToolCall,
    ToolResult,
    TurnStatus,
    Usage,
    UserMessage,
    cancelled_params,
    completed_params,
    failed_params,
    part_from_dict,
    system_event_params,
    usage_delta_params,
)

from ._context import NewItem, Trailing, TurnContext, new_item
from ._context_window import leading_summary, summarize
from ._cost import CostGuard
from ._history import DISCARD_PHASE, result_item_id, unanswered_calls
from ._memory_step import remember
from ._model_step import ModelStep, build_instructions, list_source_tools, request_parts
from ._result import TurnResult
from ._steps import OpenStep
from ._subagents import tree_budget, wake_parent
from ._termination import termination_item, termination_of
from ._tool_calls import close_nested_calls
from ._tool_step import ToolStep

logger = logging.getLogger("threadline.runtime")

STOPPED_BY_RULE = (
    "the agent's should_continue rule ended the turn before this call ran; it was not run."
)


class TurnRunner:
    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx
        self._model_step: ModelStep | None = None
        self._tool_step: ToolStep | None = None
        self._fresh_calls = False
        self._unsaved: list[NewItem] = []  # a final step that an error stopped from storing
        self._step: OpenStep | None = None  # the model step running, or the one unsaved
        self._cost = CostGuard(ctx.budget, ctx.model)

    async def run(self) -> TurnResult:
        """Run to an ending or a pause. Cancelling the calling task ends the turn as cancelled,
        unless the lease was lost (then nothing is written and `LeaseLost` is raised)."""
        if self.ctx.turn.cancel_requested or self.ctx.thread.status == "terminated":
            # Asked to stop, or its thread ended, while no process ran it: it ends now.
            await self._end("cancelled", None, "interrupt")
            return self._ended()
        if self.ctx.thread.parent_id is not None:  # a child spends from its ancestors' budgets
            self.ctx.budget = await tree_budget(self.ctx.services, self.ctx.thread, self.ctx.budget)
            self._cost = CostGuard(self.ctx.budget, self.ctx.model)
        try:
            async with asyncio.timeout_at(self._deadline()):
                await self._loop()
        except BudgetExceededError as exc:
            await self._end("failed", exc.to_dict(), "budget")
        except TimeoutError:
            budget = self.ctx.budget
            assert budget.max_wall_seconds is not None
            error = BudgetExceededError(
                "max_wall_seconds", budget.max_wall_seconds, self.ctx.running_seconds()
            )
            await self._end("failed", error.to_dict(), "budget")
        except asyncio.CancelledError:
            if self.ctx.turn.is_final or self.ctx.turn.status == "awaiting_approval":
                # The cancel arrived while the turn's last write was finishing; that write
                # is stored, so the turn ended (or paused) as written.
                return self._ended()
            if self.ctx.lease_lost:
                raise LeaseLost(f"turn {self.ctx.turn.turn_id} lost its lease") from None
            await asyncio.shield(self._end("cancelled", None, "interrupt"))
        except LeaseLost:
            raise
        except ThreadlineError as exc:
            await self._end("failed", exc.to_dict(), "error")
        except Exception as exc:
            log_failure(logger, "turn %s failed unexpectedly", self.ctx.turn.turn_id, exc=exc)
            await self._end(
                "failed",
                {"code": "internal_error", "message": f"internal error ({type(exc).__name__})"},
                "error",
            )
        return self._ended()

    def _ended(self) -> TurnResult:
        ctx = self.ctx
        if ctx.thread.parent_id is not None and ctx.turn.is_final:
            ctx.services.spawn(wake_parent(ctx.services, ctx.thread))
        return TurnResult.from_context(ctx)

    def _deadline(self) -> float | None:
        # Wall time is the time the turn runs: a pause for a human does not count.
        wall = self.ctx.budget.max_wall_seconds
        if wall is None:
            return None
        remaining = wall - self.ctx.running_seconds()
        return asyncio.get_running_loop().time() + remaining

    async def _loop(self) -> None:
        ctx = self.ctx
        queued_steps = 0  # batches of calls that tools queued: steps the model did not ask for
        after_tools = False
        while True:
            calls = unanswered_calls(ctx.turn_items())
            if calls:
                if after_tools:  # calls a tool step left queued: a step like a model call
                    self._check_steps(ctx.steps + queued_steps)
                    queued_steps += 1
                after_tools = True
                await list_source_tools(ctx)
                step = self._tool_step = ToolStep(ctx, calls, fresh=self._fresh_calls)
                paused = await step.run()
                self._tool_step = None
                if ctx.thread.status == "terminated":  # a tool ended the thread
                    await self._end("cancelled", None, "interrupt")
                    return
                if paused:
                    return
                self._check_usage()  # the children a tool waited for spent from the budget
                assert step.stored is not None
                if not await self._continues_after(step.stored):
                    return
                continue
            after_tools = False
            await self._take_steering()
            self._check_steps(ctx.steps + queued_steps)
            self._cost.before_call()
            building = time.time()  # the model step's context starts being built
            await list_source_tools(ctx)
            # Once per model request: dynamic instructions are built now, observations read.
            instructions = await remember(ctx, await build_instructions(ctx), self._side_usage)
            await self._summarize_if_needed(instructions)
            await ctx.fault("before_model_call")
            opened = self._step = await ctx.step_log.open("model")
            opened.started_at = building
            opened.data = {"model": ctx.model.name if ctx.model is not None else None}
            model_step = self._model_step = ModelStep(ctx, instructions)
            response = await model_step.run()
            await ctx.fault("after_model_response")
            ctx.steps += 1
            ctx.usage = ctx.usage + response.usage
            ctx.events.emit("usage_delta", params=usage_delta_params(response.usage, ctx.usage))
            self._cost.after_usage(response.usage)
            items = model_step.final_items()
            self._model_step = None
            opened.usage = response.usage
            opened.data.update(model_step.timings(opened.started_at))  # for traces
            if any(isinstance(i.payload, ToolCall) for i in items):
                states: dict[str, ToolCallState] = {
                    i.payload.tool_call_id: "requested"
                    for i in items
                    if isinstance(i.payload, ToolCall)
                }
                record = opened.record("completed", [i.item_id for i in items])
                self._step = None
                await ctx.commit(items, tool_states=states, steps=[record], wait=False)
                await ctx.fault("after_step_commit")
                self._check_usage()
                self._fresh_calls = True
                if not await self._continues_after(record):
                    return
                continue
            self._check_usage_before_ending(items)
            # The answer is read, and its output validated, as it is stored: without secrets.
            if await self._repair_or_complete(items, redact(response.text)):
                return

    def _check_steps(self, steps: int) -> None:
        limit = self.ctx.budget.max_iterations
        if limit is not None and steps >= limit:
            raise BudgetExceededError("max_iterations", limit, steps)

    async def _take_steering(self) -> None:
        ctx = self.ctx
        # Only look when a write saw steering input, or before any write has said.
        if (
            ctx.written is not None
            and not ctx.written.steering
            and (ctx.thread.thread_id not in ctx.services.steered)
        ):
            return
        ctx.services.steered.discard(ctx.thread.thread_id)
        entries = await ctx.store.steering(ctx.thread.thread_id)
        if not entries:
            return
        items: list[NewItem] = []
        for entry in entries:
            parts = tuple(part_from_dict(p) for p in entry.input)
            item = new_item(UserMessage(content=parts, sender=entry.sender))
            ctx.item_started(item.item_id, item.payload)
            items.append(item)
        await ctx.commit(items, consume_inbox=[e.entry_id for e in entries], wait=False)

    async def _summarize_if_needed(self, instructions: str | None) -> None:
        """With the "summarize" strategy, fold what the window leaves out into a stored
        summary before the request is made."""
        ctx = self.ctx
        window = ctx.context_window
        if window is None or window.strategy != "summarize" or ctx.model is None:
            return
        tools, items = request_parts(ctx)
        kept, dropped = window.fit(items, instructions, tools)
        if not dropped:
            return
        # The new summary replaces the one before it, so it covers that one's content too.
        summary, usage = await summarize(ctx.model, [*leading_summary(kept), *dropped])
        self._side_usage(usage, "summary")
        ctx.events.emit("system_event", params=system_event_params(summary))
        await ctx.commit([new_item(summary)], wait=False)

    def _side_usage(self, usage: Usage, phase: str) -> None:
        """Count a model call beside the turn's steps toward the turn's usage."""
        ctx = self.ctx
        ctx.usage = ctx.usage + usage
        ctx.events.emit("usage_delta", params=usage_delta_params(usage, ctx.usage, phase))

    def _check_usage(self) -> None:
        ctx, budget = self.ctx, self.ctx.budget
        used = ctx.usage + ctx.subagent_usage  # the whole tree of threads the turn started
        if budget.max_tokens is not None and used.total_tokens > budget.max_tokens:
            raise BudgetExceededError("max_tokens", budget.max_tokens, used.total_tokens)
        cost = used.cost_usd
        if budget.max_cost_usd is not None and cost is not None and cost > budget.max_cost_usd:
            raise BudgetExceededError("max_cost_usd", budget.max_cost_usd, cost)

    def _check_usage_before_ending(self, items: list[NewItem]) -> None:
        try:
            self._check_usage()
        except BudgetExceededError:
            self._unsaved = items
            raise

    async def _repair_or_complete(self, items: list[NewItem], text: str) -> bool:
        """Store the final step with the turn's ending (or a repair request). True if done."""
        ctx = self.ctx
        spec = ctx.output_spec
        if spec is not None:
            value, problems = spec.validate(text)
            if problems is not None:
                if ctx.repairs >= ctx.agent.output_repair_attempts:
                    self._unsaved = items
                    raise _OutputInvalid(problems, ctx.repairs)
                ctx.repairs += 1
                data = {"attempt": ctx.repairs, "problems": problems}
                repair = SystemEvent(
                    phase="repair", message=spec.repair_prompt(problems), data=data
                )
                ctx.events.emit("system_event", params=system_event_params(repair))
                stored = [*items, new_item(repair)]
                await ctx.commit(stored, steps=self._step_records("completed", stored), wait=False)
                return False
            ctx.output = value
        output = ctx.output
        if output is not None and hasattr(output, "model_dump"):
            output = output.model_dump(mode="json")
        await ctx.fault("before_turn_complete")
        await ctx.commit(
            items,
            turn_status="completed",
            end="release",
            trailing=[("completed", completed_params(text, output, ctx.usage), None)],
            steps=self._step_records("completed", items),
        )
        return True

    def _step_records(self, status: StepStatus, items: Sequence[NewItem]) -> list[StepRecord]:
        """The record of the model step that `items` end, if one is open."""
        step, self._step = self._step, None
        return [] if step is None else [step.record(status, [i.item_id for i in items])]

    async def _continues_after(self, step: StepRecord) -> bool:
        """Ask the agent's `should_continue` rule after a step the turn would go on from;
        False: the turn was ended as completed here."""
        plan = self.ctx.agent.plan
        if plan is None or await plan.continues_after(step, self.ctx):
            return True
        await self._stop_early()
        return False

    async def _stop_early(self) -> None:
        """End the turn as completed because the agent's `should_continue` rule said so:
        each call left unanswered gets a result saying it was not run, stored as a cancelled
        tool batch; the turn's answer is its last agent message."""
        ctx = self.ctx
        calls = unanswered_calls(ctx.turn_items())
        results = [
            NewItem(
                item_id=result_item_id(c.item_id),
                payload=ToolResult(
                    tool_call_id=c.payload.tool_call_id,
                    name=c.payload.name,
                    output=f"Error: {STOPPED_BY_RULE}",
                    outcome="cancelled",
                ),
            )
            for c in calls
            if isinstance(c.payload, ToolCall)
        ]
        steps: list[StepRecord] = []
        if results:
            names = [r.payload.name for r in results if isinstance(r.payload, ToolResult)]
            tools = await ctx.step_log.open("tools")
            steps.append(
                tools.record("cancelled", [r.item_id for r in results], data={"tools": names})
            )
        text = next(
            (
                i.payload.text
                for i in reversed(ctx.turn_items())
                if isinstance(i.payload, AgentMessage)
            ),
            "",
        )
        await ctx.commit(
            results,
            turn_status="completed",
            end="release",
            tool_states={r.payload.tool_call_id: "failed" for r in results},  # type: ignore[union-attr]
            trailing=[("completed", completed_params(text, None, ctx.usage), None)],
            steps=steps,
        )

    async def end_cancelled(self) -> TurnResult:
        """Cancel a turn that is not running (a paused one), as an interrupt would."""
        await self._end("cancelled", None, "interrupt")
        return self._ended()

    async def _end(self, status: TurnStatus, error: dict[str, Any] | None, phase: str) -> None:
        """End the turn as failed or cancelled: store what was produced, answer every open
        tool call, and release the thread, in one commit. Every item the turn announced is
        stored, so the log shows each one's end as the live stream did; with
        `persist_partial_on_error=False` the turn is then hidden from the model."""
        ctx = self.ctx
        if ctx.failed is not None:
            # A write the turn did not wait for failed: what it knows is ahead of the store.
            # Write nothing more; recovery continues the turn from what was stored.
            with contextlib.suppress(Exception):
                await ctx.store.hand_back(ctx.thread.thread_id, ctx.epoch)
            raise ctx.failed
        termination = await termination_of(ctx) if status == "cancelled" else None
        if termination is not None:
            error, phase = termination, TERMINATED_PHASE
        keep = ctx.agent.persist_partial_on_error
        item_status: ItemStatus = "cancelled" if status == "cancelled" else "failed"
        # A final answer that a limit or the output schema refused is complete, but with its
        # turn discarded it is no answer: it ends as failed.
        items: list[NewItem] = [
            u if keep else NewItem(item_id=u.item_id, payload=u.payload, status=item_status)
            for u in self._unsaved
        ]
        unfinished: list[NewItem] = []  # calls cut off before they were stored: never run
        if self._model_step is not None:
            partial = self._model_step.partial_items(item_status)
            items += partial
            unfinished = [i for i in partial if isinstance(i.payload, ToolCall)]
        produced = len(items)  # the model step's; the tool results follow
        finished: dict[str, NewItem] = {}
        files: list[FileOp] = []
        if self._tool_step is not None:
            finished = {
                r.payload.tool_call_id: r  # type: ignore[union-attr]
                for r in self._tool_step.finished_results()
            }
            files = self._tool_step.finished_file_changes()
        ended = "interrupted" if status == "cancelled" else "failed"
        states: dict[str, ToolCallState] = {}
        open_calls: list[tuple[Item | NewItem, bool]] = [
            *((c, False) for c in unanswered_calls(ctx.turn_items())),
            *((c, True) for c in unfinished),
        ]
        for call_item, cut_off in open_calls:
            call = call_item.payload
            assert isinstance(call, ToolCall)
            result = finished.get(call.tool_call_id)
            if result is None:
                reason = (
                    f"the turn {ended} before this tool call was complete; it was not run"
                    if cut_off
                    else f"the turn {ended} before this tool call finished"
                )
                result = NewItem(
                    item_id=result_item_id(call_item.item_id),
                    payload=ToolResult(
                        tool_call_id=call.tool_call_id,
                        name=call.name,
                        output=f"Error: {reason}.",
                        outcome="cancelled",
                    ),
                )
                states[call.tool_call_id] = "failed"
            else:
                succeeded = isinstance(result.payload, ToolResult) and (
                    result.payload.outcome == "success"
                )
                states[call.tool_call_id] = "succeeded" if succeeded else "failed"
            items.append(result)
        # Calls made by tools that were still running end with the turn.
        for result in close_nested_calls(
            ctx, None, f"the turn {ended} before this call made by a tool finished."
        ):
            assert isinstance(result.payload, ToolResult)
            items.append(result)
            states[result.payload.tool_call_id] = "failed"
        step_status: StepStatus = "cancelled" if status == "cancelled" else "failed"
        steps = self._step_records(step_status, items[:produced])
        results = [i.item_id for i in items[produced:]]
        if results:  # the tool batch that ran, waited, or was to run them ends with the turn
            tools = self._tool_step.step if self._tool_step is not None else None
            tools = tools or await ctx.step_log.open("tools")
            names = [c.payload.name for c, _ in open_calls if isinstance(c.payload, ToolCall)]
            steps.append(tools.record(step_status, results, data={"tools": names}))
        if termination is not None:
            reason = termination_item(ctx, termination)
            assert isinstance(reason.payload, SystemEvent)
            ctx.events.emit("system_event", params=system_event_params(reason.payload))
            items.append(reason)
        elif error is not None:
            items.append(
                new_item(
                    ErrorPayload(
                        code=str(error.get("code", "error")), message=str(error.get("message", ""))
                    )
                )
            )
        if not keep:
            items.append(
                new_item(
                    SystemEvent(
                        phase=DISCARD_PHASE,
                        message="this turn's output is hidden from the model",
                        data={"turn_id": ctx.turn.turn_id},
                    )
                )
            )
        for (thread_id, call_id), invocation in list(ctx.services.suspended.items()):
            if thread_id == ctx.thread.thread_id and invocation.task is not None:
                invocation.task.cancel()
                del ctx.services.suspended[(thread_id, call_id)]
        if status == "cancelled":
            terminal: Trailing = ("cancelled", cancelled_params(phase, ctx.usage), None)
        else:
            terminal = ("failed", failed_params(error, ctx.usage), None)
        await ctx.commit(
            items,
            turn_status=status,
            end="release",
            error=error,
            trailing=[terminal],
            tool_states=states,
            files=files,
            steps=steps,
        )


class _OutputInvalid(ThreadlineError):
    code = "output_invalid"

    def __init__(self, problems: str, attempts: int) -> None:
        super().__init__(
            f"the answer did not match the output schema after {attempts} "
            f"repair attempt(s): {problems}",
            attempts=attempts,
        )
