"""The agents the server tests serve: a deterministic model that acts on the last user message,
so that many tests can share one server (`threadline serve tests.server.apps:agents`).

Commands (the last user message):
    say TEXT                 answers TEXT, streamed word by word
    weather CITY             calls the agent's `get_weather`, then reports its result
    transfer AMOUNT          calls `transfer` (needs approval), then reports its result
    client NAME JSON         calls the client's function tool NAME, then reports its result
    json JSON                answers JSON (structured output)
    words N                  answers N words
    slow SECONDS             answers after SECONDS, word by word (cancellable)
    reason TEXT              reasons, then answers TEXT
    recall                   answers the summaries it reads (from compaction), or "nothing"
    files                    answers the path and text of each file the request attaches
    fail                     the model fails
    crash TEXT               the model raises an exception (not a threadline error) saying TEXT
anything else is echoed back.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import threadline as tl
from threadline.models import (
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
)
from threadline.types import ModelError, SystemEvent, ToolCall, ToolResult, Usage, UserMessage


class CommandModel:
    """Answers from the request alone, so its behaviour never depends on test order."""

    name = "command"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        items = list(request.items)
        last_user = max(
            (n for n, i in enumerate(items) if isinstance(i.payload, UserMessage)), default=-1
        )
        command = items[last_user].text if last_user >= 0 else ""
        after = [i.payload for i in items[last_user + 1 :]]
        results = [p for p in after if isinstance(p, ToolResult)]
        if results:
            async for event in _say(f"{results[-1].name} returned {results[-1].output}"):
                yield event
            return
        calls = sum(isinstance(p, ToolCall) for p in after)
        verb, _, rest = command.partition(" ")
        if verb == "weather":
            async for event in _call("get_weather", f'{{"city": "{rest}"}}', calls):
                yield event
        elif verb == "transfer":
            async for event in _call("transfer", f'{{"amount": {int(rest)}}}', calls):
                yield event
        elif verb == "client":
            name, _, arguments = rest.partition(" ")
            async for event in _call(name, arguments or "{}", calls):
                yield event
        elif verb == "recall":
            summaries = [
                i.payload.message
                for i in items
                if isinstance(i.payload, SystemEvent) and i.payload.phase == "summary"
            ]
            async for event in _say(" | ".join(summaries) or "nothing"):
                yield event
        elif verb == "files":
            shown = [f"{f.path}: {f.data.decode()}" for f in request.files.values()]
            async for event in _say(" | ".join(shown) or "no files"):
                yield event
        elif verb == "fail":
            raise ModelError("the scripted model was told to fail")
        elif verb == "crash":
            raise RuntimeError(f"the provider refused: {rest}")
        elif verb == "words":
            async for event in _say(" ".join(f"w{n}" for n in range(min(int(rest), 50_000)))):
                yield event
        elif verb == "slow":
            async for event in _say("this took a while", delay=min(float(rest), 30.0)):
                yield event
        elif verb == "reason":
            yield ReasoningDelta(delta="thinking about it")
            async for event in _say(rest, reasoning="thinking about it"):
                yield event
        elif verb in ("say", "json"):
            async for event in _say(rest):
                yield event
        else:
            async for event in _say(f"echo: {command}"):
                yield event


async def _say(text: str, *, delay: float = 0.0, reasoning: str = "") -> AsyncIterator[ModelEvent]:
    deltas = re.findall(r"\S+\s*|\s+", text)
    for delta in deltas:
        if delay:
            await asyncio.sleep(delay / max(1, len(deltas)))
        yield TextDelta(delta=delta)
    yield ModelResponse(
        text=text, reasoning=reasoning, usage=Usage(input_tokens=5, output_tokens=len(deltas))
    )


async def _call(name: str, arguments: str, earlier_calls: int) -> AsyncIterator[ModelEvent]:
    call_id = f"call_{name}_{earlier_calls}"
    half = len(arguments) // 2
    yield ToolCallDelta(index=0, tool_call_id=call_id, name=name, arguments_delta=arguments[:half])
    yield ToolCallDelta(index=0, arguments_delta=arguments[half:])
    yield ModelResponse(
        tool_calls=(ToolCallRequest(tool_call_id=call_id, name=name, arguments=arguments),),
        usage=Usage(input_tokens=5, output_tokens=3),
        finish_reason="tool_calls",
    )


@tl.tool
async def get_weather(city: str) -> dict[str, Any]:
    """Current weather for a city."""
    return {"city": city, "temp_c": 18}


@tl.tool(needs_approval=True)
async def transfer(amount: int) -> str:
    """Send money; a human approves each transfer."""
    return f"sent {amount}"


class ClientToolModel:
    """For running an Open Responses client's compliance suite against a server: calls the
    first function tool a request offers (once), otherwise answers with the words of the
    last user message (`threadline serve tests.server.apps:plain_agents`)."""

    name = "client-tool"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        items = list(request.items)
        last_user = max(
            (n for n, i in enumerate(items) if isinstance(i.payload, UserMessage)), default=-1
        )
        after = [i.payload for i in items[last_user + 1 :]]
        if request.tools and not any(isinstance(p, ToolResult) for p in after):
            async for event in _call(request.tools[0].name, "{}", 0):
                yield event
            return
        async for event in _say(items[last_user].text if last_user >= 0 else "hello"):
            yield event


def plain_agents() -> list[tl.Agent]:
    """An agent with no tools of its own, so that a client may name any function tool."""
    return [tl.Agent(name="assistant", instructions="Be brief.", model=ClientToolModel())]


def model_agents() -> list[tl.Agent]:
    """An agent with no tools of its own that runs the model `--model` names
    (`threadline serve tests.server.apps:model_agents --model local`)."""
    return [tl.Agent(name="assistant", instructions="Be brief.")]


def agents() -> list[tl.Agent]:
    model = CommandModel()
    return [
        tl.Agent(
            name="assistant", instructions="Be brief.", model=model, tools=[get_weather, transfer]
        ),
        tl.Agent(name="other", instructions="Be other.", model=model),
    ]
