"""The agents as MCP tools over streamable HTTP, driven by the official `mcp` client: one
turn per call on a durable thread, continued by its id, with progress as items complete;
and the tools that list and read threads."""

from __future__ import annotations

import mcp_types as types
import pytest
from dirty_equals import IsFloat, IsStr
from mcp.shared.exceptions import MCPError
from mcp_harness import TOOLS, mcp_client, mcp_server, mcp_session, structured, text
from responses_harness import RunningServer

__all__ = ["mcp_server"]


async def test_each_agent_is_a_tool_beside_the_thread_tools(mcp_server: RunningServer) -> None:
    async with mcp_session(mcp_server) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}

    assert sorted(tools) == TOOLS
    agent = tools["assistant"]
    assert agent.input_schema["required"] == ["input"]
    assert set(agent.input_schema["properties"]) == {"input", "thread_id"}
    assert agent.output_schema is not None
    assert {"thread_id", "turn_id", "status"} <= set(agent.output_schema["required"])
    assert tools["answer_approval"].input_schema["properties"]["decision"]["enum"] == [
        "approve",
        "deny",
    ]


async def test_a_call_runs_a_turn_and_its_thread_id_continues_the_thread(
    mcp_server: RunningServer,
) -> None:
    async with mcp_session(mcp_server) as session:
        first = await session.call_tool("assistant", {"input": "say hello there"})
        thread_id = structured(first)["thread_id"]
        second = await session.call_tool(
            "assistant", {"input": "say again", "thread_id": thread_id}
        )
        read = await session.call_tool("read_thread", {"thread_id": thread_id})

    assert not first.is_error
    assert text(first) == "hello there"
    assert structured(first) == {
        "thread_id": IsStr(regex=r"thr_\w+"),
        "turn_id": IsStr(regex=r"turn_\w+"),
        "status": "completed",
        "text": "hello there",
        "pending_approvals": [],
        "pending_input": None,
        "error": None,
    }
    assert thread_id in first.content[1].text  # type: ignore[union-attr]
    assert structured(second)["thread_id"] == thread_id
    assert structured(second)["turn_id"] != structured(first)["turn_id"]
    assert text(second) == "again"
    items = structured(read)["items"]
    assert [(i["type"], i["text"]) for i in items] == [
        ("user_message", "say hello there"),
        ("agent_message", "hello there"),
        ("user_message", "say again"),
        ("agent_message", "again"),
    ]
    assert structured(read)["thread"]["turn_count"] == 2
    assert "[4] agent: again" in text(read)


async def test_progress_is_reported_as_the_turn_completes_items(
    mcp_server: RunningServer,
) -> None:
    reported: list[tuple[float, str | None]] = []

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        reported.append((progress, message))

    async with mcp_session(mcp_server) as session:
        result = await session.call_tool(
            "assistant", {"input": "weather Paris"}, progress_callback=progress
        )

    assert text(result) == 'get_weather returned {"city":"Paris","temp_c":18}'
    assert reported == [
        (1, "user_message"),
        (2, "tool_call get_weather"),
        (3, "tool_result get_weather"),
        (4, "agent_message"),
    ]


async def test_the_2026_protocol_client_runs_turns_with_progress(
    mcp_server: RunningServer,
) -> None:
    messages: list[str | None] = []

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async with mcp_client(mcp_server) as client:
        result = await client.call_tool(
            "assistant", {"input": "weather Rome"}, progress_callback=progress
        )
        assert client.session.protocol_version == "2026-07-28"

    assert text(result) == 'get_weather returned {"city":"Rome","temp_c":18}'
    assert messages[-1] == "agent_message"


async def test_list_threads_pages_through_the_callers_threads(mcp_server: RunningServer) -> None:
    async with mcp_session(mcp_server) as session:
        started = [
            structured(await session.call_tool("other", {"input": f"say {n}"}))["thread_id"]
            for n in range(3)
        ]
        first = await session.call_tool("list_threads", {"limit": 2})
        rest = await session.call_tool(
            "list_threads", {"limit": 100, "cursor": structured(first)["next_cursor"]}
        )

    listed = [t["thread_id"] for t in structured(first)["threads"]]
    listed += [t["thread_id"] for t in structured(rest)["threads"]]
    assert listed[:3] == started[::-1]  # newest first
    assert structured(first)["threads"][0] == {
        "thread_id": started[-1],
        "agent": "other",
        "status": "idle",
        "key": None,
        "mode": None,
        "parent_id": None,
        "turn_count": 1,
        "created_at": IsFloat,
        "updated_at": IsFloat,
    }
    assert structured(rest)["next_cursor"] is None


async def test_a_failed_turn_is_an_error_result_that_says_why(mcp_server: RunningServer) -> None:
    async with mcp_session(mcp_server) as session:
        result = await session.call_tool("assistant", {"input": "fail"})

    assert result.is_error
    assert structured(result)["status"] == "failed"
    assert structured(result)["error"]["code"] == "model_error"
    assert text(result).startswith("The turn failed (model_error)")


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("assistant", {}, "the argument 'input' is required"),
        ("assistant", {"input": 5}, "'input' must be a string"),
        ("assistant", {"input": "   "}, "empty"),
        ("assistant", {"input": "hi", "colour": "red"}, "unknown argument 'colour'"),
        ("list_threads", {"limit": 0}, "'limit' must be a whole number from 1 to 100"),
        ("list_threads", {"status": "sleeping"}, "status must be one of"),
        ("answer_approval", {"thread_id": "thr_x", "tool_call_id": "c"}, "'decision' is"),
    ],
)
async def test_bad_arguments_get_an_error_result_and_change_nothing(
    mcp_server: RunningServer, tool: str, arguments: dict[str, object], message: str
) -> None:
    async with mcp_session(mcp_server) as session:
        before = await session.call_tool("list_threads", {"limit": 100})
        result = await session.call_tool(tool, arguments)
        after = await session.call_tool("list_threads", {"limit": 100})

    assert result.is_error
    assert message in text(result)
    assert structured(after) == structured(before)


async def test_a_thread_continues_only_with_its_own_agent(mcp_server: RunningServer) -> None:
    async with mcp_session(mcp_server) as session:
        thread_id = structured(await session.call_tool("other", {"input": "say a"}))["thread_id"]
        result = await session.call_tool("assistant", {"input": "say b", "thread_id": thread_id})

    assert result.is_error
    assert text(result) == (
        f"thread {thread_id!r} is a thread of the agent 'other': continue it with the other tool"
    )


async def test_an_unknown_tool_is_a_protocol_error(mcp_server: RunningServer) -> None:
    async with mcp_session(mcp_server) as session:
        with pytest.raises(MCPError) as raised:
            await session.call_tool("nobody", {"input": "hi"})

    assert raised.value.error.code == types.INVALID_PARAMS
    assert "Unknown tool: nobody" in raised.value.error.message
