"""Tools called by tools: calls a tool queues for after its step (`queue_tool`), calls it makes
and waits for (`invoke_tool`), and the plan items it records.

A nested call is stored like a call of the turn, a `ToolCall` then its `ToolResult`, each
naming its caller in `parent_call_id`, with the id `<caller's id>/<n>` for the caller's n-th
call: the caller's idempotency key plus `/<n>`, the same in every process. The model never sees
nested calls (its history leaves them out); the turn loop never runs them (they are no
unanswered calls of the turn); a nested call the turn leaves open is answered when its caller
is, or when the turn ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from threadline.store import ToolCallState
from threadline.tools import ThreadState, Tool, ToolServices
from threadline.types import (
    ConfigurationError,
    Item,
    ToolCall,
    ToolError,
    ToolOutcome,
    ToolResult,
    new_id,
    plan_updated_params,
)

from ._approvals import caller_approvals
from ._context import NewItem, Trailing, TurnContext, new_item
from ._history import result_item_id
from ._model_step import step_tools

if TYPE_CHECKING:
    from ._tool_step import Invocation

STATE_OF_OUTCOME: dict[ToolOutcome, ToolCallState] = {
    "success": "succeeded",
    "error": "failed",
    "denied": "denied",
    "unknown": "unknown",
    "cancelled": "failed",
}


@dataclass(kw_only=True)
class FollowUps:
    """What finished tools leave to store with their results: the calls they queued and the
    plans they recorded, with the events that announce them."""

    items: list[NewItem] = field(default_factory=list[NewItem])
    tool_states: dict[str, ToolCallState] = field(default_factory=dict[str, ToolCallState])
    trailing: list[Trailing] = field(default_factory=list[Trailing])

    def add_plans(self, context: ThreadState[Any]) -> None:
        for plan in context.plan_updates:
            item = new_item(plan)
            self.items.append(item)
            self.trailing.append(("plan_updated", plan_updated_params(plan), item.item_id))

    def add_queued(self, context: ThreadState[Any]) -> None:
        for call in context.queued_calls:
            self.items.append(new_item(call))
            self.tool_states[call.tool_call_id] = "requested"


def follow_ups(contexts: Iterable[ThreadState[Any] | None]) -> FollowUps:
    """The plans and queued calls of tools that finished, in that order: a queued call comes
    after every result of its step, as an assistant step of its own."""
    found = FollowUps()
    contexts = [c for c in contexts if c is not None]
    for context in contexts:
        found.add_plans(context)
    for context in contexts:
        found.add_queued(context)
    return found


class ToolCallsFromTools:
    """The `queue_tool` and `invoke_tool` services of a tool's `ThreadState` (a mixin of the
    services a tool step lends). A nested call's `ThreadState` is lent the same services, so
    that what belongs to the outermost call (its invocation: a choice it waits for, the
    files it stages) is shared by every call it makes."""

    _ctx: TurnContext
    _invocation: Invocation

    def _tool(self, name: str, arguments: str) -> Tool:
        ctx = self._ctx
        tools = step_tools(ctx)
        tool = tools.get(name)
        if tool is None:
            raise ToolError(
                f"there is no tool named {name!r}; available: {', '.join(sorted(tools)) or 'none'}",
                tool=name,
            )
        problem = tool.check_arguments(arguments)
        if problem is not None:
            raise ToolError(problem, tool=name)
        return tool

    async def queue_tool(self, caller: Any, name: str, arguments: str) -> ToolCall:
        self._tool(name, arguments)
        return ToolCall(
            tool_call_id=self._ctx.fresh_call_id(new_id("call")), name=name, arguments=arguments
        )

    async def invoke_tool(self, caller: Any, number: int, name: str, arguments: str) -> str:
        if not isinstance(caller, ThreadState):
            raise ConfigurationError("invoke_tool needs a tool's ThreadState")
        parent: ThreadState[Any] = caller
        tool = self._tool(name, arguments)
        call_id = f"{parent.tool_call_id}/{number}"
        if stored_call(self._ctx, call_id) is None:
            self._check_approval(tool, name, arguments, parent)
        call, call_item_id, earlier = await begin_nested(
            self._ctx, parent.tool_call_id, number, name, arguments, idempotent=tool.idempotent
        )
        if earlier is not None:
            return _output(earlier)
        return await self._run(tool, call, call_item_id, parent)

    def _check_approval(
        self, tool: Tool, name: str, arguments: str, parent: ThreadState[Any]
    ) -> None:
        ctx = self._ctx
        if name not in caller_approvals(ctx.turn) and not tool.needs_approval(
            arguments, parent.state
        ):
            return
        standing = ctx.indexed.standing.get(name)
        if standing is not None and standing.decision == "approved":
            return
        raise ToolError(
            f"tool {name!r} needs a human's approval, so a tool cannot call it; it was not "
            "run (queue_tool queues it for approval)",
            tool=name,
        )

    async def _run(
        self, tool: Tool, call: ToolCall, call_item_id: str, parent: ThreadState[Any]
    ) -> str:
        ctx = self._ctx
        result_id = result_item_id(call_item_id)
        opening = ToolResult(
            tool_call_id=call.tool_call_id,
            name=call.name,
            output="",
            parent_call_id=call.parent_call_id,
        )
        ctx.item_started(result_id, opening, streams=True)
        context = None
        if tool.context_parameter is not None:
            context = ctx.tool_state(call.tool_call_id, parent.state, cast(ToolServices, self))
        output = await tool.invoke(call.arguments, context)
        if call.tool_call_id not in ctx.indexed.open_nested:
            # Its caller ended meanwhile (it did not wait for this call) and answered it.
            raise ToolError(
                "the calling tool had ended; this call's result was not kept",
                tool_call_id=call.tool_call_id,
            )
        result = ToolResult(
            tool_call_id=call.tool_call_id,
            name=call.name,
            output=output.output,
            outcome=output.outcome,
            parent_call_id=call.parent_call_id,
        )
        items = [NewItem(item_id=result_id, payload=result)]
        extra: dict[str, Any] = {}
        trailing: list[Trailing] = []
        if context is not None:
            found = FollowUps()
            found.add_plans(context)
            items += found.items
            trailing = found.trailing
            extra["timers"] = context.scheduled
            if context.state_changed:
                ctx.state = context.state_as_json()
                extra["state"] = ctx.state
        await ctx.commit(
            items,
            tool_states={call.tool_call_id: STATE_OF_OUTCOME[output.outcome]},
            trailing=trailing,
            **extra,
        )
        await ctx.fault("after_nested_tool_result")
        if context is not None:
            # What the nested tool changed is the caller's to see; the calls it queued run
            # after the step, stored with the caller's result.
            if context.state_changed:
                parent.set_state(context.state)
            parent.queued_calls.extend(context.queued_calls)
        return _output(result)


def stored_call(ctx: TurnContext, call_id: str) -> Item | None:
    """The turn's stored call of that id, if any."""
    return _stored(ctx.turn_items(), call_id)[0]


async def begin_nested(
    ctx: TurnContext,
    parent_call_id: str,
    number: int,
    name: str,
    arguments: str,
    *,
    idempotent: bool,
) -> tuple[ToolCall, str, ToolResult | None]:
    """Start the calling tool's `number`th nested step (a tool it invokes, or code it runs):
    its call `<caller>/<number>` is stored, its start durable before it runs unless it is
    `idempotent`. Returns the call, its item's id and, when the step ran before the caller was
    cut off, its stored result; for a step that started then and is not idempotent, a result
    saying its outcome is unknown (stored now): it is never run twice."""
    call_id = f"{parent_call_id}/{number}"
    found_call, found_result = _stored(ctx.turn_items(), call_id)
    if found_call is None:
        if call_id in ctx.indexed.calls:
            raise ToolError(f"the tool call id {call_id!r} is taken", tool_call_id=call_id)
        call = ToolCall(
            tool_call_id=call_id, name=name, arguments=arguments, parent_call_id=parent_call_id
        )
        item = new_item(call)
        ctx.item_started(item.item_id, call)
        # Its start is durable before it runs: after a crash, a step that is not idempotent
        # is reported as unknown, never run twice.
        await ctx.commit([item], tool_states={call_id: "started"}, wait=not idempotent)
        await ctx.fault("after_nested_tool_started")
        return call, item.item_id, None
    call = found_call.payload
    assert isinstance(call, ToolCall)
    if (call.parent_call_id, call.name, call.arguments) != (parent_call_id, name, arguments):
        raise ToolError(
            f"this tool's call number {number} was a call of {call.name!r} with other "
            "arguments when it ran before; nothing was run",
            tool_call_id=call_id,
        )
    if found_result is not None:  # it ran before its caller was cut off
        result = found_result.payload
        assert isinstance(result, ToolResult)
        return call, found_call.item_id, result
    if idempotent:
        return call, found_call.item_id, None
    result = ToolResult(
        tool_call_id=call_id,
        name=name,
        output="Error: the outcome of this call is unknown: it was interrupted "
        "and may or may not have taken effect. It was not run again.",
        outcome="unknown",
        parent_call_id=parent_call_id,
    )
    await ctx.commit(
        [NewItem(item_id=result_item_id(found_call.item_id), payload=result)],
        tool_states={call_id: "unknown"},
    )
    return call, found_call.item_id, result


def _stored(items: Sequence[Item], call_id: str) -> tuple[Item | None, Item | None]:
    call: Item | None = None
    result: Item | None = None
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall | ToolResult) and payload.tool_call_id == call_id:
            if isinstance(payload, ToolCall):
                call = item
            else:
                result = item
    return call, result


def _output(result: ToolResult) -> str:
    if result.outcome == "success":
        return result.output
    raise ToolError(
        result.output.removeprefix("Error: "),
        tool_call_id=result.tool_call_id,
        outcome=result.outcome,
    )


def close_nested_calls(
    ctx: TurnContext,
    callers: dict[str, ToolOutcome] | None,
    message: str,
) -> list[NewItem]:
    """Results for the open nested calls under `callers` (call id -> the outcome its nested
    calls get), or under any call (`None`: the turn ends, they are cancelled). Costs nothing
    on a turn without open nested calls."""
    open_nested = ctx.indexed.open_nested
    if not open_nested:
        return []
    closing: dict[str, ToolOutcome] = {}
    for call_id in open_nested:
        outcome = "cancelled" if callers is None else _caller_outcome(call_id, callers)
        if outcome is not None:
            closing[call_id] = outcome
    if not closing:
        return []
    items: list[NewItem] = []
    for item in ctx.turn_items():
        call = item.payload
        if isinstance(call, ToolCall) and call.tool_call_id in closing:
            outcome = closing[call.tool_call_id]
            result = ToolResult(
                tool_call_id=call.tool_call_id,
                name=call.name,
                output=f"Error: {message}",
                outcome=outcome,
                parent_call_id=call.parent_call_id,
            )
            items.append(NewItem(item_id=result_item_id(item.item_id), payload=result))
    return items


def _caller_outcome(call_id: str, callers: dict[str, ToolOutcome]) -> ToolOutcome | None:
    """The outcome for an open nested call whose caller (at any depth: its id is the caller's
    plus `/<n>`) is answered now: unknown if that caller's outcome is unknown (the nested call
    may have run), else cancelled."""
    for caller, outcome in callers.items():
        if call_id.startswith(caller + "/"):
            return "unknown" if outcome == "unknown" else "cancelled"
    return None
