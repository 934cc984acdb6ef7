"""A human's answers to a paused turn: approve, deny, or the value of a choice."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import jsonschema
import jsonschema.validators

from threadline.types import (
    ApprovalDecision,
    ApprovalResponse,
    AwaitingInput,
    InputResponse,
    InvalidInputError,
    Item,
    ToolCall,
    ToolResult,
    approval_resolved_params,
    check_text,
)

from ._approvals import call_records
from ._context import TurnContext, new_item
from ._decision_context import context_for_decision
from ._engine import Engine
from ._subagents import live_pending


async def decide(
    engine: Engine,
    thread_id: str,
    tool_call_id: str,
    decision: ApprovalDecision,
    *,
    reason: str | None,
    always: bool,
    sender: str | None,
) -> ApprovalResponse:
    """Record a decision on a pending approval (of this thread, or of a child thread its turn
    waits for). Deciding again returns the first decision."""
    holder = await _holder(engine, thread_id, tool_call_id)
    if holder != thread_id:
        return await decide(
            engine, holder, tool_call_id, decision, reason=reason, always=always, sender=sender
        )
    ctx, _ = await context_for_decision(engine, thread_id)
    async with _paused(ctx):
        record = call_records(ctx.turn_items()).get(tool_call_id)
        if record is None or record.request is None:
            raise InvalidInputError(
                f"no approval is pending for call {tool_call_id!r}", tool_call_id=tool_call_id
            )
        if record.response is not None:
            if record.response.decision != decision:
                raise InvalidInputError(
                    f"call {tool_call_id!r} was already {record.response.decision}",
                    tool_call_id=tool_call_id,
                )
            return record.response
        response = ApprovalResponse(
            tool_call_id=tool_call_id,
            decision=decision,
            reason=reason,
            always=always,
            sender=sender,
        )
        ctx.events.emit("approval_resolved", params=approval_resolved_params(response))
        await _record(ctx, [new_item(response)])
        await ctx.fault("after_approval_decision")
        return response


async def answer(engine: Engine, thread_id: str, value: Any, *, sender: str | None) -> Item:
    """Record the value a tool's `await_choice` waits for (in this thread, or in a child
    thread its turn waits for), validated against its schema."""
    holder = await _holder(engine, thread_id, None)
    if holder != thread_id:
        return await answer(engine, holder, value, sender=sender)
    ctx, _ = await context_for_decision(engine, thread_id)
    async with _paused(ctx):
        waiting = [
            r
            for r in call_records(ctx.turn_items()).values()
            if r.awaiting is not None and r.answer is None
        ]
        if not waiting:
            raise InvalidInputError("no choice is waiting for an answer on this thread")
        request = waiting[0].awaiting
        assert request is not None
        validator = jsonschema.validators.validator_for(request.schema)(request.schema)
        errors = list(validator.iter_errors(value))
        if errors:
            raise InvalidInputError(
                f"the answer does not match the choice's schema: {errors[0].message}"
            )
        answered = InputResponse(tool_call_id=request.tool_call_id, value=value, sender=sender)
        ctx.events.emit("approval_resolved", params=approval_resolved_params(answered))
        (item,) = await _record(ctx, [new_item(answered)])
        await ctx.fault("after_approval_decision")
        return item


async def submit_results(
    engine: Engine, thread_id: str, outputs: Mapping[str, str], *, errors: Collection[str] = ()
) -> list[Item]:
    """Record the results of client-side tool calls the paused turn waits for. Every id must
    name such a call; nothing is stored otherwise."""
    if not outputs:
        raise InvalidInputError("give at least one tool result")
    ctx, _ = await context_for_decision(engine, thread_id)
    async with _paused(ctx):
        waiting = {
            call.tool_call_id: call for call in external_calls(ctx.turn_items(), ctx.external_tools)
        }
        unknown = sorted(set(outputs) - set(waiting))
        if unknown:
            raise InvalidInputError(f"no client tool call waits for a result: {unknown}")
        for call_id, output in outputs.items():
            if not isinstance(output, str):
                raise InvalidInputError(f"the result of {call_id} must be a string")
            check_text(output, f"the result of {call_id}")
        items = [
            new_item(
                ToolResult(
                    tool_call_id=call_id,
                    name=waiting[call_id].name,
                    output=output,
                    outcome="error" if call_id in errors else "success",
                )
            )
            for call_id, output in outputs.items()
        ]
        return await _record(ctx, items)


async def annotate(
    engine: Engine, thread_id: str, turn_id: str, annotations: Mapping[str, Any]
) -> None:
    """Replace the caller's annotations of the thread's paused turn `turn_id`."""
    turn = await engine.store.get_turn(turn_id)
    if turn is None or turn.thread_id != thread_id or turn.status != "awaiting_approval":
        raise InvalidInputError(f"turn {turn_id!r} is not a paused turn of this thread")
    ctx, _ = await context_for_decision(engine, thread_id)
    async with _paused(ctx):
        if ctx.turn.turn_id != turn_id:
            raise InvalidInputError(f"turn {turn_id!r} is not a paused turn of this thread")
        await ctx.commit(
            [],
            turn_status="awaiting_approval",
            end="pause",
            options={**ctx.turn.options, "annotations": dict(annotations)},
        )


async def _holder(engine: Engine, thread_id: str, tool_call_id: str | None) -> str:
    """The thread whose paused turn holds the request: this one if it has it, else the
    first child it waits for that does (a call's approval by id; without an id, a choice)."""
    found = [
        r
        for r in await live_pending(engine, thread_id)
        if (
            r.tool_call_id == tool_call_id
            if tool_call_id is not None
            else isinstance(r, AwaitingInput)
        )
    ]
    if not found or any(r.thread_id is None for r in found):
        return thread_id
    return found[0].thread_id or thread_id


def external_calls(items: Sequence[Item], tools: Mapping[str, Any]) -> list[ToolCall]:
    """Client-side tool calls among `items` that have no result yet."""
    answered = {i.payload.tool_call_id for i in items if isinstance(i.payload, ToolResult)}
    return [
        i.payload
        for i in items
        if isinstance(i.payload, ToolCall)
        and i.payload.name in tools
        and i.payload.tool_call_id not in answered
    ]


async def _record(ctx: TurnContext, items: list[Any]) -> list[Item]:
    # Still paused, but recovery may continue the turn now if nobody resumes it here.
    return await ctx.commit(items, turn_status="awaiting_approval", end="pause", wake_after=0.0)


class _paused:
    """Hold the decision lease; give it back unchanged if the decision is refused."""

    def __init__(self, ctx: TurnContext) -> None:
        self.ctx = ctx

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None or self.ctx.turn.status != "awaiting_approval":
            await self.ctx.commit([], turn_status="awaiting_approval", end="pause")
