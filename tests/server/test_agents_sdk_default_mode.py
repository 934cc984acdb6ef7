"""The OpenAI Agents SDK in its default mode sends the whole conversation with each request:
a function tool's second step, tools approved or rejected client-side, and a session kept in
a conversation, all against the server, unmodified. On both stores."""

from __future__ import annotations

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from agents.memory import OpenAIConversationsSession
from recorded_harness import RecordedServer, user

from threadline.types import AgentMessage, ToolCall, ToolResult

TEA = 'client lookup {"word": "tea"}'  # the server's model calls the client's `lookup`


def _agent(client: openai.AsyncOpenAI, *, needs_approval: bool = False) -> Agent:
    set_tracing_disabled(True)  # traces would go to OpenAI

    @function_tool(needs_approval=needs_approval)
    def lookup(word: str) -> str:
        """Look a word up."""
        return f"{word} is a drink"

    return Agent(
        name="helper",
        model=OpenAIResponsesModel(model="assistant", openai_client=client),
        tools=[lookup],
    )


def _tool_step(output: str) -> list[object]:
    """What the model reads in the request that follows the client's run of `lookup`."""
    call = ToolCall(tool_call_id="call_lookup_0", name="lookup", arguments='{"word": "tea"}')
    return [user(TEA), call, ToolResult(tool_call_id="call_lookup_0", name="lookup", output=output)]


async def test_the_agents_sdk_runs_a_function_tool(
    recorded_async_client: openai.AsyncOpenAI, recorded: RecordedServer
) -> None:
    agent = _agent(recorded_async_client)

    result = await Runner.run(agent, TEA)
    read = recorded.model.last_read()
    streamed = Runner.run_streamed(agent, TEA)
    async for _ in streamed.stream_events():
        pass

    assert result.final_output == "lookup returned tea is a drink"
    assert read == _tool_step("tea is a drink")
    assert streamed.final_output == "lookup returned tea is a drink"
    assert recorded.model.last_read() == read


@pytest.mark.parametrize("approve", [True, False])
async def test_the_agents_sdk_approves_or_rejects_a_tool_client_side(
    recorded_async_client: openai.AsyncOpenAI, recorded: RecordedServer, approve: bool
) -> None:
    agent = _agent(recorded_async_client, needs_approval=True)

    first = await Runner.run(agent, TEA)
    [interruption] = first.interruptions
    state = first.to_state()
    if approve:
        state.approve(interruption)
    else:
        state.reject(interruption)
    result = await Runner.run(agent, state)

    assert interruption.tool_name == "lookup"
    [*_, output] = recorded.model.last_read()
    assert isinstance(output, ToolResult)
    if approve:
        assert output.output == "tea is a drink"
    else:
        assert "not approved" in output.output
    assert result.final_output == f"lookup returned {output.output}"


async def test_an_openai_conversations_session_carries_two_runs(
    recorded_async_client: openai.AsyncOpenAI, recorded: RecordedServer
) -> None:
    agent = _agent(recorded_async_client)
    session = OpenAIConversationsSession(openai_client=recorded_async_client)

    first = await Runner.run(agent, "say one", session=session)
    second = await Runner.run(agent, "say two", session=session)

    assert (first.final_output, second.final_output) == ("one", "two")
    assert recorded.model.last_read() == [
        user("say one"),
        AgentMessage(text="one"),
        user("say two"),
    ]
    items = await session.get_items()
    assert [i.get("role") for i in items] == ["user", "assistant", "user", "assistant"]
