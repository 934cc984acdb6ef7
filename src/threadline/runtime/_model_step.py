from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from threadline.models import (
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolSpec,
    reasoning_data,
)
from threadline.tools import Tool, ToolSource, source_tools
from threadline.types import (
    AgentMessage,
    InvalidInputError,
    Item,
    ItemStatus,
    ModelError,
    Reasoning,
    ToolCall,
    delta_params,
    new_id,
)

from ._agent import Agent
from ._attachments import load_attachments
from ._context import NewItem, TurnContext
from ._context_window import with_summary
from ._history import request_history
from ._observer import unobserved
from ._turn_events import TurnEvents
from ._turn_settings import with_extra_instructions

logger = logging.getLogger("threadline.runtime")


class _PendingCall:
    __slots__ = ("arguments", "item_id", "name", "original_id", "tool_call_id")

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.original_id: str | None = None  # as the model named it
        self.tool_call_id: str | None = None  # as the thread stores it
        self.name: str | None = None
        self.arguments: list[str] = []


async def build_instructions(ctx: TurnContext) -> str | None:
    """The instructions of the thread's next request (dynamic ones are built now), with the
    turn's extra instructions after the agent's."""
    plan = ctx.agent.plan
    if plan is not None:
        own = await plan.instructions(ctx)
    else:
        own = await ctx.agent.resolve_mode(ctx.thread.mode).build_instructions(ctx.view())
    return with_extra_instructions(own, ctx.settings.instructions)


async def list_source_tools(ctx: TurnContext) -> None:
    """List the tools of the tool sources (MCP servers) of the mode, or that the plan chooses,
    for the thread's next step: each source answers from what it has cached unless its tools
    changed."""
    plan = ctx.agent.plan
    if plan is None:
        mode = ctx.agent.resolve_mode(ctx.thread.mode)
        ctx.source_tools = await listed_source_tools(mode.tools, mode.sources)
    else:
        sources = plan.sources(ctx)  # the plan's own tools only matter (for names) beside some
        ctx.source_tools = await listed_source_tools(plan.tools(ctx) if sources else {}, sources)


async def check_caller_approvals(agent: Agent, mode: str | None, names: frozenset[str]) -> None:
    """Refuse (`InvalidInputError`) a `require_approval` that names a tool the agent does not
    offer: its own in the mode, or one its tool sources list now. A source that cannot list
    its tools now confirms no name, so a call meant to be approved is never left unguarded.
    A plan's tools are known step by step: their names are not checked."""
    if not names or agent.plan is not None:
        return
    resolved = agent.resolve_mode(mode)
    unknown = names - resolved.tools.keys()
    if unknown and resolved.sources:
        unknown -= (await listed_source_tools(resolved.tools, resolved.sources)).keys()
    if unknown:
        raise InvalidInputError(
            f"require_approval names no tool of agent {agent.name!r}: {', '.join(sorted(unknown))}"
        )


async def listed_source_tools(
    own: Mapping[str, Tool], sources: Sequence[ToolSource]
) -> dict[str, Tool]:
    """The tools these sources list now, by the names the model sees beside `own` (a source
    that cannot list them adds none)."""
    if not sources:
        return {}
    listed = await asyncio.gather(*(_listed(source) for source in sources))
    return source_tools(own, list(zip(sources, listed, strict=True)))


async def _listed(source: ToolSource) -> Sequence[Tool]:
    try:
        return await source.list_tools()
    except Exception as exc:  # a source must not raise; one that does adds nothing
        logger.warning(
            "tool source %s failed to list its tools (%s)", source.name, type(exc).__name__
        )
        return ()


def step_tools(ctx: TurnContext) -> dict[str, Tool]:
    """The agent's tools for the thread's next step: its mode's, or those its plan chooses
    from the thread as it is now, with those their tool sources listed for the step."""
    plan = ctx.agent.plan
    own = plan.tools(ctx) if plan is not None else ctx.agent.resolve_mode(ctx.thread.mode).tools
    return {**own, **ctx.source_tools} if ctx.source_tools else own


def request_parts(ctx: TurnContext) -> tuple[list[ToolSpec], Sequence[Item]]:
    """The tools and visible history of the thread's next request."""
    own = step_tools(ctx)
    tools = [
        *(
            ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
            for t in own.values()
        ),
        *(t for name, t in ctx.external_tools.items() if name not in own),
    ]
    items = request_history(ctx.history, ctx.indexed)
    if ctx.indexed.summarized:
        items = with_summary(items)
    if ctx.memory is not None:  # observations stand in for the history they cover
        items = unobserved(items, ctx.memory.observed_through)
    return tools, items


class ModelStep:
    """One model call: streams its deltas as events and ends with the items it produced."""

    def __init__(self, ctx: TurnContext, instructions: str | None) -> None:
        self.ctx = ctx
        self.instructions = instructions
        self.message_id: str | None = None
        self.reasoning_id: str | None = None
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, _PendingCall] = {}
        self.response: ModelResponse | None = None
        self.requested_at: float | None = None  # when the request was built and sent
        self.request_items = 0  # how many items the request carried
        self.first_event_at: float | None = None  # when the model's first delta arrived

    def timings(self, started_at: float) -> dict[str, Any]:
        """What a step record keeps of the call's time: how long its context took to build
        (from `started_at`), how many items the request carried, and how long the first
        token took once it was sent."""
        if self.requested_at is None:
            return {}
        timings: dict[str, Any] = {
            "context_seconds": round(self.requested_at - started_at, 6),
            "request_items": self.request_items,
        }
        if self.first_event_at is not None:
            timings["first_token_seconds"] = round(self.first_event_at - self.requested_at, 6)
        return timings

    async def request(self) -> ModelRequest:
        ctx = self.ctx
        instructions = self.instructions
        tools, items = request_parts(ctx)
        window = ctx.context_window
        if window is not None:
            items, _ = window.fit(items, instructions, tools)
        settings = ctx.settings
        temperature = settings.temperature
        return ModelRequest(
            files=await load_attachments(ctx, items),
            instructions=instructions,
            items=items,
            tools=tools,
            output_schema=ctx.output_spec.schema if ctx.output_spec else None,
            temperature=ctx.agent.temperature if temperature is None else temperature,
            top_p=settings.top_p,
            max_output_tokens=settings.max_output_tokens,
        )

    async def run(self) -> ModelResponse:
        events = self.ctx.events
        model = self.ctx.model
        assert model is not None, "a decision context cannot call the model"
        request = await self.request()
        self.requested_at, self.request_items = time.time(), len(request.items)
        stream = model.stream(request)
        streamed = False
        try:
            async for event in stream:
                self._on_event(event, events)
                if not streamed and not isinstance(event, ModelResponse):
                    streamed = True
                    self.first_event_at = time.time()
                    await self.ctx.fault("mid_stream")
        finally:
            # A break or an error stops generation and closes the HTTP stream at once.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.response is None:
            raise ModelError("the model stream ended without a final response", retryable=True)
        return self.response

    def _on_event(self, event: ModelEvent, events: TurnEvents) -> None:
        if isinstance(event, TextDelta):
            if self.message_id is None:
                self.message_id = new_id("item")
                self.ctx.item_started(self.message_id, AgentMessage(text=""), streams=True)
            self.text.append(event.delta)
            events.emit(
                "agent_message_delta",
                item_id=self.message_id,
                params=delta_params({}, event.delta),
                raw=event.raw,
            )
        elif isinstance(event, ReasoningDelta):
            if self.reasoning_id is None:
                self.reasoning_id = new_id("item")
                self.ctx.item_started(self.reasoning_id, Reasoning(text=""), streams=True)
            self.reasoning.append(event.delta)
            events.emit(
                "reasoning_delta",
                item_id=self.reasoning_id,
                params=delta_params({}, event.delta),
                raw=event.raw,
            )
        elif isinstance(event, ToolCallDelta):
            self._on_call_delta(event)
        else:
            self.response = event

    def _on_call_delta(self, event: ToolCallDelta) -> None:
        call = self.calls.get(event.index)
        if call is None:
            call = self.calls[event.index] = _PendingCall(new_id("item"))
        if call.tool_call_id is None and event.tool_call_id:
            call.original_id = event.tool_call_id
            call.tool_call_id = self.ctx.fresh_call_id(event.tool_call_id)
        if call.name is None and event.name:
            call.name = event.name
            self.ctx.item_started(
                call.item_id,
                ToolCall(tool_call_id=call.tool_call_id or "", name=call.name, arguments=""),
                streams=True,
            )
        if event.arguments_delta:
            call.arguments.append(event.arguments_delta)
            self.ctx.events.emit(
                "tool_arguments_delta",
                item_id=call.item_id,
                params=delta_params({"tool_call_id": call.tool_call_id}, event.arguments_delta),
                raw=event.raw,
            )

    def final_items(self) -> list[NewItem]:
        """The step's items from the final snapshot, reusing the ids the deltas announced."""
        response = self.response
        assert response is not None
        items: list[NewItem] = []
        reasoning = response.reasoning or "".join(self.reasoning)
        # Encrypted or signed reasoning may carry no text and must still go back next time.
        state = dict(reasoning_data(response))
        if reasoning or state:
            payload = Reasoning(text=reasoning, data=state)
            item_id = self.reasoning_id or self._start(payload)
            items.append(NewItem(item_id=item_id, payload=payload))
        if response.text:
            item_id = self.message_id or self._start(AgentMessage(text=response.text))
            items.append(NewItem(item_id=item_id, payload=AgentMessage(text=response.text)))
        streamed = {c.original_id: c for c in self.calls.values() if c.original_id}
        for index, call in enumerate(response.tool_calls):
            pending = streamed.get(call.tool_call_id) or (
                self.calls[index] if index in self.calls and self.calls[index].name else None
            )
            if pending is not None and pending.tool_call_id is not None:
                payload = ToolCall(
                    tool_call_id=pending.tool_call_id, name=call.name, arguments=call.arguments
                )
                items.append(NewItem(item_id=pending.item_id, payload=payload))
                continue
            payload = ToolCall(
                tool_call_id=self.ctx.fresh_call_id(call.tool_call_id),
                name=call.name,
                arguments=call.arguments,
            )
            items.append(NewItem(item_id=self._start(payload), payload=payload))
        return items

    def partial_items(self, status: ItemStatus) -> list[NewItem]:
        """What the step produced before it was cut off (or before its end could be stored),
        marked as not complete: every item it announced, so that the log shows each one's
        end. Its tool calls never run; the turn answers each with a synthetic result."""
        if self.response is not None:
            return [
                NewItem(item_id=i.item_id, payload=i.payload, status=status)
                for i in self.final_items()
            ]
        items: list[NewItem] = []
        if self.reasoning_id is not None:
            items.append(
                NewItem(
                    item_id=self.reasoning_id,
                    status=status,
                    payload=Reasoning(text="".join(self.reasoning)),
                )
            )
        if self.message_id is not None:
            items.append(
                NewItem(
                    item_id=self.message_id,
                    status=status,
                    payload=AgentMessage(text="".join(self.text)),
                )
            )
        for call in self.calls.values():
            if call.name is None:  # never announced
                continue
            if call.tool_call_id is None:
                call.tool_call_id = self.ctx.fresh_call_id("")
            payload = ToolCall(
                tool_call_id=call.tool_call_id, name=call.name, arguments="".join(call.arguments)
            )
            items.append(NewItem(item_id=call.item_id, status=status, payload=payload))
        return items

    def _start(self, payload: AgentMessage | Reasoning | ToolCall) -> str:
        item_id = new_id("item")
        self.ctx.item_started(item_id, payload)
        return item_id
