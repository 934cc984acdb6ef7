"""Stateless runs: one turn of an agent without a store of the caller's, on the same engine
as threads (`Thread.run_streamed`), returning an `AgentResult`; a paused run resumes from its
`Checkpoint`, here or in another process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from threadline.types import (
    AgentMessage,
    ApprovalResponse,
    Budget,
    CheckpointError,
    Event,
    InputResponse,
    InvalidInputError,
    Item,
    Payload,
    TextPart,
    ThreadRecord,
    ToolCall,
    ToolResult,
    UserMessage,
    new_id,
)

from ._agent import Agent
from ._agent_result import AgentResult, RunEnvelope, envelopes
from ._app import Threadline
from ._checkpoint import Checkpoint
from ._imports import check_history
from ._input import TurnInput, normalize_input
from ._stateless_apps import borrowed_app
from ._stream import TurnStream
from ._thread import Thread

PrefixMessage = Payload | Item | Mapping[str, Any]
"""A message before the input: a history payload (`UserMessage`, `AgentMessage`, `ToolCall`,
`ToolResult`), an `Item` (such as those of an earlier `AgentResult`), or `{"role": "user" |
"assistant", "content": "..."}`."""
Response = ApprovalResponse | InputResponse
Opening = Callable[[Threadline], Awaitable[tuple[Thread, TurnStream]]]
_HISTORY_TYPES = (UserMessage, AgentMessage, ToolCall, ToolResult)


async def run_agent(
    agent: Agent,
    input: TurnInput | None,
    *,
    prefix_messages: Sequence[PrefixMessage] = (),
    signal: asyncio.Event | None = None,
    thread_id: str | None = None,
    budget: Budget | None = None,
) -> AgentResult:
    """Run one turn of `agent` on `input` with the loop, tools, budgets and structured output
    of threads, and no store of yours (an in-memory one is used and left empty).

    A budget overrun, a model error or an invalid answer is `status == "errored"` (with
    `error`), an interruption `"cancelled"`, a pause for a human `"paused"` with a
    `checkpoint` to resume from (`run_agent_resume`).

    Args:
        agent: the agent; its `model` is used (the bundled local model if it names none).
        input: a string, input parts, or None to answer `prefix_messages` as they stand.
        prefix_messages: the conversation so far (see `PrefixMessage`); items other than
            messages, tool calls and tool results (approvals, system events) are left out.
        signal: set it to interrupt the run (`status == "cancelled"`).
        thread_id: the id of the run's thread, as its events and items name it; default fresh.
        budget: limits for this run, over the agent's.

    Raises `InvalidInputError` (running nothing) for malformed input or prefix messages, or a
    `thread_id` that a run of this agent in progress uses.

        result = await tl.run_agent(agent, "Hello")
        print(result.status, result.text)
    """
    return await _last(_fresh_run(agent, input, prefix_messages, signal, thread_id, budget))


def run_agent_stream(
    agent: Agent,
    input: TurnInput | None,
    *,
    prefix_messages: Sequence[PrefixMessage] = (),
    signal: asyncio.Event | None = None,
    thread_id: str | None = None,
    budget: Budget | None = None,
) -> AsyncIterator[Event | AgentResult]:
    """`run_agent`, streamed: the run's events as they happen, then its `AgentResult` as the
    last item. Raises `InvalidInputError` at once for malformed input.

        async for item in tl.run_agent_stream(agent, "Hello"):
            if isinstance(item, tl.AgentResult): print(item.status)
    """
    stream = _fresh_run(agent, input, prefix_messages, signal, thread_id, budget)

    async def unwrapped() -> AsyncIterator[Event | AgentResult]:
        async with aclosing(stream):  # a reader that leaves ends the run at once
            async for envelope in stream:
                if envelope.event is not None:
                    yield envelope.event
                elif envelope.result is not None:
                    yield envelope.result

    return unwrapped()


def _fresh_run(
    agent: Agent,
    input: TurnInput | None,
    prefix_messages: Sequence[PrefixMessage],
    signal: asyncio.Event | None,
    thread_id: str | None,
    budget: Budget | None,
) -> AsyncGenerator[RunEnvelope]:
    """A new run's envelopes; the input is checked at once."""
    _check_agent(agent)
    history = prefix_history(prefix_messages)
    if input is not None:
        normalize_input(input, None)
    elif not history:
        raise InvalidInputError("give an input, or prefix messages for the run to answer")
    if thread_id is not None and (not isinstance(thread_id, str) or not thread_id.strip()):
        raise InvalidInputError("thread_id must be a non-empty string", field="thread_id")

    async def opening(app: Threadline) -> tuple[Thread, TurnStream]:
        store = app.store
        chosen = thread_id or new_id("thr")
        if thread_id is not None and await store.get_thread(chosen) is not None:
            raise InvalidInputError(
                f"a run of this agent with thread_id {chosen!r} is in progress",
                thread_id=chosen,
            )
        now = time.time()
        record = await store.create_thread(
            ThreadRecord(
                thread_id=chosen, agent=agent.name, metadata={}, created_at=now, updated_at=now
            )
        )
        thread = await app.threads.resume(record.thread_id)
        return thread, thread.run_streamed(input, budget=budget, history=history)

    return _run(agent, opening, signal)


async def run_agent_resume(
    agent: Agent,
    checkpoint: Checkpoint,
    responses: Sequence[Response],
    *,
    signal: asyncio.Event | None = None,
) -> AgentResult:
    """Continue a paused run from its checkpoint (`result.checkpoint`, or
    `Checkpoint.from_json(...)` in another process) with the human's answers:
    `tl.ApprovalResponse(tool_call_id=..., decision="approved" | "denied")` for approvals,
    `InputResponse(tool_call_id=..., value=...)` for a tool's `await_choice`. A checkpoint
    may be resumed again; each resume starts from it as it was.

    Raises `CheckpointError` for a checkpoint of another agent, `InvalidInputError` for an
    answer to nothing the run waits for (running nothing).

        resumed = await tl.run_agent_resume(agent, result.checkpoint,
            [tl.ApprovalResponse(tool_call_id=call_id, decision="approved")])
    """
    return await _last(run_agent_resume_stream(agent, checkpoint, responses, signal=signal))


def run_agent_resume_stream(
    agent: Agent,
    checkpoint: Checkpoint,
    responses: Sequence[Response],
    *,
    signal: asyncio.Event | None = None,
) -> AsyncGenerator[RunEnvelope]:
    """`run_agent_resume`, streamed as envelopes: `envelope.type == "event"` for each event,
    then one `"result"` with the `AgentResult`. Raises at once for a checkpoint of another
    agent or answers of the wrong type."""
    _check_agent(agent)
    if not isinstance(checkpoint, Checkpoint):
        raise InvalidInputError("checkpoint must be a tl.Checkpoint (Checkpoint.from_json(...))")
    if checkpoint.agent != agent.name:
        raise CheckpointError(
            f"the checkpoint is a run of agent {checkpoint.agent!r}, not of {agent.name!r}"
        )
    answers = list(responses)
    for index, response in enumerate(answers):
        if not isinstance(response, ApprovalResponse | InputResponse):
            raise InvalidInputError(
                f"responses[{index}] is a {type(response).__name__}: give tl.ApprovalResponse "
                "or InputResponse items",
                field=f"responses[{index}]",
            )

    async def opening(app: Threadline) -> tuple[Thread, TurnStream]:
        if await app.store.get_thread(checkpoint.thread_id) is not None:
            raise InvalidInputError(
                "this checkpoint is being resumed already: wait for that run to end",
                thread_id=checkpoint.thread_id,
            )
        record = await app.store.import_thread(checkpoint.snapshot)
        thread = await app.threads.resume(record.thread_id)
        try:
            await _decide(thread, answers)
        except BaseException:
            await _discard(thread)
            raise
        return thread, thread.resume_turn_streamed()

    return _run(agent, opening, signal)


async def _decide(thread: Thread, responses: Sequence[Response]) -> None:
    for response in responses:
        if isinstance(response, ApprovalResponse):
            decide = thread.approve if response.decision == "approved" else thread.deny
            await decide(
                response.tool_call_id,
                reason=response.reason,
                always=response.always,
                sender=response.sender,
            )
            continue
        waiting = [p for p in await thread.pending() if p.type == "awaiting_input"]
        if not any(p.tool_call_id == response.tool_call_id for p in waiting):
            raise InvalidInputError(
                f"the run waits for no input for tool call {response.tool_call_id!r}",
                tool_call_id=response.tool_call_id,
            )
        await thread.answer(response.value, sender=response.sender)


async def _run(
    agent: Agent, opening: Opening, signal: asyncio.Event | None
) -> AsyncGenerator[RunEnvelope]:
    async with borrowed_app(agent) as app:
        thread, stream = await opening(app)
        watcher: asyncio.Future[None] | None = None
        result: AgentResult | None = None
        try:
            async with aclosing(envelopes(stream)) as events:
                async for envelope in events:
                    if envelope.result is not None:
                        result = envelope.result
                        continue
                    if watcher is None and signal is not None:  # the turn exists now
                        watcher = asyncio.ensure_future(_interrupt_when(signal, thread))
                        if signal.is_set():  # already: before the turn's first step ends
                            await watcher
                    yield envelope
            assert result is not None
            if result.status == "paused":
                snapshot = await app.store.export_thread(thread.id)
                result = replace(
                    result,
                    checkpoint=Checkpoint(
                        agent=agent.name,
                        thread_id=thread.id,
                        turn_id=result.turn_id,
                        snapshot=snapshot,
                    ),
                )
        finally:
            if watcher is not None:
                watcher.cancel()
            await _discard(thread)
        yield RunEnvelope(type="result", result=result)


async def _interrupt_when(signal: asyncio.Event, thread: Thread) -> None:
    await signal.wait()
    await thread.interrupt()


async def _discard(thread: Thread) -> None:
    """Delete the run's thread, interrupting its turn first if it still runs (a stream its
    reader left). A tool waiting for a choice stops waiting: the checkpoint resumes it as
    another process would."""
    engine = thread._engine  # pyright: ignore[reportPrivateUsage]
    active = engine.active.get(thread.id)
    if active is not None and active.task is not None and not active.task.done():
        await thread.interrupt()
        await asyncio.wait([active.task])
    for (thread_id, call_id), invocation in list(engine.suspended.items()):
        if thread_id == thread.id:
            del engine.suspended[(thread_id, call_id)]
            if invocation.task is not None:
                invocation.task.cancel()
    await thread.delete()


async def _last(stream: AsyncIterator[RunEnvelope]) -> AgentResult:
    result: AgentResult | None = None
    async for envelope in stream:
        result = envelope.result or result
    assert result is not None
    return result


def prefix_history(messages: Sequence[PrefixMessage]) -> list[Payload]:
    """The history that `messages` make: payloads as they are, the messages, tool calls and
    tool results among items, and role/content dicts as messages. Raises
    `InvalidInputError` unless it is a history a model can read."""
    if isinstance(messages, str | bytes | Mapping):
        raise InvalidInputError(
            "prefix_messages must be a list of messages", field="prefix_messages"
        )
    history: list[Payload] = []
    for index, message in enumerate(messages):
        if isinstance(message, Item):
            if isinstance(message.payload, _HISTORY_TYPES):
                history.append(message.payload)
        elif isinstance(message, Mapping):
            history.append(_from_role(message, index))
        else:
            history.append(message)
    check_history(history)
    return history


def _from_role(message: Mapping[str, Any], index: int) -> Payload:
    role, content = message.get("role"), message.get("content")
    where = f"prefix_messages[{index}]"
    if not isinstance(content, str) or set(message) - {"role", "content"}:
        raise InvalidInputError(
            f"{where} must be {{'role': 'user' | 'assistant', 'content': text}}", field=where
        )
    if role == "user":
        return UserMessage(content=(TextPart(text=content),))
    if role == "assistant":
        return AgentMessage(text=content)
    raise InvalidInputError(
        f"{where} has role {role!r}: only 'user' and 'assistant' messages are taken (the "
        "agent's instructions are its system prompt)",
        field=where,
    )


def _check_agent(agent: Agent) -> None:
    if not isinstance(agent, Agent):
        raise InvalidInputError(f"not a tl.Agent: {type(agent).__name__}", field="agent")
