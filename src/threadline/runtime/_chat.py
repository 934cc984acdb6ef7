"""Chat by key: a thread named by the caller's own key, created by the first message and
continued by the next, run like `tl.run_agent` (a status, not an exception)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from threadline.store import Store
from threadline.types import Budget, InvalidInputError

from ._agent import Agent
from ._agent_result import AgentResult, RunEnvelope, ended, envelopes
from ._input import TurnInput
from ._manager import ThreadManager
from ._memory import checked_owner
from ._thread import Thread


@dataclass(frozen=True, kw_only=True)
class ChatRequest:
    """What one `app.chat` call asks for (see `Threadline.chat`)."""

    agent: str
    input: TurnInput
    thread_id: str
    resource_id: str | None = None
    user_id: str | None = None
    memory_agent_id: str | None = None
    budget: Budget | None = None
    sender: str | None = None

    def __post_init__(self) -> None:
        checked_owner(self.thread_id, "thread_id")
        for name in ("resource_id", "user_id", "memory_agent_id"):
            value = getattr(self, name)
            if value is not None:
                checked_owner(value, name)
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise InvalidInputError("budget must be a tl.Budget", field="budget")


async def chat(threads: ThreadManager, store: Store, request: ChatRequest) -> AgentResult:
    thread = await chat_thread(threads, store, request)
    stream = thread.run_streamed(request.input, sender=request.sender, budget=request.budget)
    return AgentResult.from_turn(await ended(stream))


async def chat_stream(
    threads: ThreadManager, store: Store, request: ChatRequest
) -> AsyncIterator[RunEnvelope]:
    thread = await chat_thread(threads, store, request)
    stream = thread.run_streamed(request.input, sender=request.sender, budget=request.budget)
    async for envelope in envelopes(stream):
        yield envelope


async def chat_thread(threads: ThreadManager, store: Store, request: ChatRequest) -> Thread:
    """The thread `request.thread_id` names for its user: created by the first call (with
    the resource and the memory namespace), the same one after. Raises `InvalidInputError` if
    that thread belongs to another agent or resource, or keeps another memory namespace."""
    thread = await threads.start(
        user_id=request.user_id,
        agent=request.agent,
        key=request.thread_id,
        resource_id=request.resource_id,
    )
    record = thread.record
    if record.agent != request.agent:
        raise InvalidInputError(
            f"thread_id {request.thread_id!r} is a conversation with agent {record.agent!r}, "
            f"not {request.agent!r}: use another thread_id",
            field="thread_id",
        )
    if request.resource_id is not None and record.resource_id != request.resource_id:
        raise InvalidInputError(
            f"thread_id {request.thread_id!r} belongs to another resource_id: a thread's "
            "resource is set by its first message",
            field="resource_id",
        )
    if request.memory_agent_id is not None:
        await store.bind_memory(record.thread_id, request.memory_agent_id)
    return thread


def agent_name(agent: str | Agent) -> str:
    return agent.name if isinstance(agent, Agent) else agent
