from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from threadline.tools import ThreadState, Tool
from threadline.types import Item, ToolCall, ToolResult, new_id

from ._context import NewItem, TurnContext


class ToolStep:
    """Runs one batch of tool calls concurrently; finished results are kept as they arrive so
    that an interrupted batch still stores what did finish."""

    def __init__(self, ctx: TurnContext, calls: list[Item]) -> None:
        self.ctx = ctx
        self.calls = calls
        self.finished: list[NewItem] = []
        self.state_changed = False

    async def run(self) -> None:
        ctx = self.ctx
        tools = ctx.agent.resolve_mode(ctx.thread.mode).tools
        state = _state_value(ctx)
        if len(self.calls) == 1:
            await self._run_one(self.calls[0], tools, state)
        else:
            await asyncio.gather(*(self._run_one(c, tools, state) for c in self.calls))
        commit_state: dict[str, Any] = {}
        if self.state_changed:
            commit_state["state"] = ctx.state
        await ctx.commit(self._ordered(), **commit_state)

    async def _run_one(self, call_item: Item, tools: dict[str, Tool], state: Any) -> None:
        ctx = self.ctx
        call = call_item.payload
        assert isinstance(call, ToolCall)
        item_id = new_id("item")
        ctx.item_started(item_id, ToolResult(tool_call_id=call.tool_call_id, name=call.name,
                                             output=""))
        tool = tools.get(call.name)
        if tool is None:
            output, outcome = (f"Error: there is no tool named {call.name!r}; available: "
                               f"{', '.join(sorted(tools)) or 'none'}."), "error"
        else:
            context = None
            if tool.context_parameter is not None:
                context = ThreadState[Any](
                    thread_id=ctx.thread.thread_id, turn_id=ctx.turn.turn_id,
                    tool_call_id=call.tool_call_id, user_id=ctx.thread.user_id,
                    items=ctx.history, state=state, state_type=ctx.agent.state_type)
            result = await tool.invoke(call.arguments, context)
            output, outcome = result.output, result.outcome
            if context is not None and context.state_changed:
                ctx.state = context.state_as_json()
                self.state_changed = True
        self.finished.append(NewItem(item_id=item_id, payload=ToolResult(
            tool_call_id=call.tool_call_id, name=call.name, output=output,
            outcome=outcome)))  # type: ignore[arg-type]

    def _ordered(self) -> list[NewItem]:
        order = {c.payload.tool_call_id: n for n, c in enumerate(self.calls)  # type: ignore[union-attr]
                 }
        return sorted(self.finished, key=lambda r: order.get(
            r.payload.tool_call_id, 0))  # type: ignore[union-attr]


def _state_value(ctx: TurnContext) -> Any:
    state_type: type[BaseModel] | None = ctx.agent.state_type
    if state_type is None:
        return dict(ctx.state or {})
    try:
        return state_type.model_validate(ctx.state or {})
    except Exception:
        return None
