"""The OpenAI Agents SDK approves threadline's tools with its own approval flow: a
`HostedMCPTool` of server label "threadline" whose `on_approval_request` callback answers the
`mcp_approval_request` items the server sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from agents import (
    Agent,
    HostedMCPTool,
    MCPToolApprovalFunctionResult,
    MCPToolApprovalRequest,
    OpenAIResponsesModel,
    Runner,
    set_tracing_disabled,
)
from agents.items import ToolCallItem
from responses_harness import RunningServer


@pytest.fixture(autouse=True)
def no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)  # traces would be exported to OpenAI
    yield
    set_tracing_disabled(False)


class Approver:
    """An `on_approval_request` callback that answers every request the same way."""

    def __init__(self, approve: bool, reason: str | None = None) -> None:
        self.approve = approve
        self.reason = reason
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, request: MCPToolApprovalRequest) -> MCPToolApprovalFunctionResult:
        data = request.data
        self.asked.append((data.server_label, data.name, data.arguments))
        result = MCPToolApprovalFunctionResult(approve=self.approve)
        if self.reason is not None:
            result["reason"] = self.reason
        return result


def agent(client: openai.AsyncOpenAI, approver: Approver, require_approval: Any) -> Agent[Any]:
    config: Any = {
        "type": "mcp",
        "server_label": "threadline",
        "require_approval": require_approval,
    }
    return Agent(
        name="assistant",
        model=OpenAIResponsesModel(model="assistant", openai_client=client),
        tools=[HostedMCPTool(tool_config=config, on_approval_request=approver)],
    )


async def test_an_approved_tool_runs_and_the_agent_reports_its_result(
    async_client: openai.AsyncOpenAI,
) -> None:
    approver = Approver(approve=True)
    conversation = await async_client.conversations.create()

    result = await Runner.run(
        agent(async_client, approver, "always"), "transfer 5", conversation_id=conversation.id
    )

    assert approver.asked == [("threadline", "transfer", '{"amount": 5}')]
    assert result.final_output == "transfer returned sent 5"
    calls = [i.raw_item for i in result.new_items if isinstance(i, ToolCallItem)]
    assert [(c.type, c.server_label, c.name, c.output) for c in calls] == [  # type: ignore[union-attr]
        ("mcp_call", "threadline", "transfer", "sent 5")
    ]


async def test_a_rejected_tool_does_not_run_and_the_agent_reads_the_reason(
    async_client: openai.AsyncOpenAI,
) -> None:
    approver = Approver(approve=False, reason="over the limit")

    result = await Runner.run(
        agent(async_client, approver, "always"), "transfer 7", auto_previous_response_id=True
    )

    assert approver.asked == [("threadline", "transfer", '{"amount": 7}')]
    assert result.final_output == (
        "transfer returned Error: a human denied this call: over the limit. It was not run."
    )


async def test_a_client_can_ask_to_approve_a_tool_the_agent_runs_freely(
    async_client: openai.AsyncOpenAI,
) -> None:
    approver = Approver(approve=True)
    require = {"always": {"tool_names": ["get_weather"]}, "never": {"tool_names": ["transfer"]}}

    result = await Runner.run(
        agent(async_client, approver, require), "weather Oslo", auto_previous_response_id=True
    )

    assert approver.asked == [("threadline", "get_weather", '{"city": "Oslo"}')]
    assert result.final_output == 'get_weather returned {"city":"Oslo","temp_c":18}'


async def test_never_cannot_switch_off_an_approval_the_agent_requires(
    async_client: openai.AsyncOpenAI,
) -> None:
    approver = Approver(approve=False)

    result = await Runner.run(
        agent(async_client, approver, "never"), "transfer 9", auto_previous_response_id=True
    )

    assert approver.asked == [("threadline", "transfer", '{"amount": 9}')]
    assert (
        result.final_output == "transfer returned Error: a human denied this call. It was not run."
    )


async def test_never_lets_the_agents_free_tools_run_without_asking(
    async_client: openai.AsyncOpenAI,
) -> None:
    approver = Approver(approve=False)

    result = await Runner.run(agent(async_client, approver, "never"), "weather Rome")

    assert approver.asked == []
    assert result.final_output == 'get_weather returned {"city":"Rome","temp_c":18}'


async def test_a_streamed_run_is_approved_the_same_way(async_client: openai.AsyncOpenAI) -> None:
    approver = Approver(approve=True)
    conversation = await async_client.conversations.create()

    run = Runner.run_streamed(
        agent(async_client, approver, "always"), "transfer 3", conversation_id=conversation.id
    )
    kinds = [e.item.type async for e in run.stream_events() if e.type == "run_item_stream_event"]

    assert approver.asked == [("threadline", "transfer", '{"amount": 3}')]
    assert kinds == [
        "mcp_approval_request_item",
        "mcp_approval_response_item",
        "tool_call_item",
        "message_output_item",
    ]
    assert run.final_output == "transfer returned sent 3"


async def test_the_sdks_default_mode_sends_the_whole_history_with_the_approval(
    async_client: openai.AsyncOpenAI,
) -> None:
    approver = Approver(approve=True)

    result = await Runner.run(agent(async_client, approver, "always"), "transfer 4")

    assert approver.asked == [("threadline", "transfer", '{"amount": 4}')]
    assert result.final_output == "transfer returned sent 4"


async def test_without_a_callback_the_run_pauses_and_resumes_from_its_state(
    async_client: openai.AsyncOpenAI,
) -> None:
    config: Any = {"type": "mcp", "server_label": "threadline", "require_approval": "always"}
    no_callback = Agent(
        name="assistant",
        model=OpenAIResponsesModel(model="assistant", openai_client=async_client),
        tools=[HostedMCPTool(tool_config=config)],
    )

    paused = await Runner.run(no_callback, "transfer 2", auto_previous_response_id=True)
    [interruption] = paused.interruptions
    state = paused.to_state()
    state.approve(interruption)
    resumed = await Runner.run(no_callback, state, auto_previous_response_id=True)

    assert interruption.name == "transfer"
    assert resumed.final_output == "transfer returned sent 2"


@pytest.mark.parametrize(
    ("tool", "param", "message"),
    [
        (
            {"type": "mcp", "server_label": "github", "server_url": "https://x.example/mcp"},
            "tools[0].server_label",
            "this server runs only its own tools, as MCP server 'threadline': an mcp tool "
            "must name server_label 'threadline', not 'github'",
        ),
        (
            {"type": "mcp", "server_label": "threadline", "server_url": "https://x.example"},
            "tools[0].server_url",
            "server_url is not supported: the 'threadline' tools are the agent's own, run by "
            "this server as configured",
        ),
        (
            {"type": "mcp", "server_label": "threadline", "allowed_tools": ["get_weather"]},
            "tools[0].allowed_tools",
            "allowed_tools is not supported: the 'threadline' tools are the agent's own, run "
            "by this server as configured",
        ),
        (
            {"type": "mcp", "server_label": "threadline", "require_approval": "sometimes"},
            "tools[0].require_approval",
            'require_approval must be "always", "never" or {"always": {"tool_names": [...]}, '
            '"never": {"tool_names": [...]}}',
        ),
        (
            {
                "type": "mcp",
                "server_label": "threadline",
                "require_approval": {"never": {"read_only": True}},
            },
            "tools[0].require_approval.never.read_only",
            "read_only filters are not supported: threadline's tools carry no read-only hint; "
            "name the tools in tool_names",
        ),
        (
            {
                "type": "mcp",
                "server_label": "threadline",
                "require_approval": {"always": {"tool_names": ["transfr"]}},
            },
            "tools[0].require_approval",
            "the agent has no tool named 'transfr'; its tools are: get_weather, transfer",
        ),
        (
            {
                "type": "mcp",
                "server_label": "threadline",
                "require_approval": {
                    "always": {"tool_names": ["transfer"]},
                    "never": {"tool_names": ["transfer"]},
                },
            },
            "tools[0].require_approval",
            "'transfer' is listed under both always and never",
        ),
    ],
)
def test_an_mcp_tool_that_is_not_threadlines_gets_a_clear_400(
    server: RunningServer, tool: dict[str, Any], param: str, message: str
) -> None:
    response = httpx.post(
        f"{server.base_url}/responses",
        json={"model": "assistant", "input": "weather Oslo", "tools": [tool]},
        timeout=10,
    )

    assert response.status_code == 400
    assert response.json()["error"] == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": None,
    }
