"""JavaScript clients from the npm registry drive the server unmodified, with Node: the
official `openai` package and the Vercel AI SDK's OpenAI Responses provider (versions pinned
in `js/package-lock.json`)."""

from __future__ import annotations

import pytest
from js_harness import INSTALL_SECONDS, NodeClients, node_clients
from responses_harness import RunningServer

# The first test may install the packages (`npm ci`) before it runs.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_SECONDS + 60)]


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> NodeClients:
    return node_clients(tmp_path_factory.mktemp("js"))


def test_openai_js_creates_a_response(node: NodeClients, server: RunningServer) -> None:
    result = node.run("openai_client.mjs", server.base_url, "create")

    assert result["status"] == "completed"
    assert result["text"] == "hello world"
    assert result["id"].startswith("resp_")


def test_openai_js_streams_a_response_and_rebuilds_it_from_the_events(
    node: NodeClients, server: RunningServer
) -> None:
    result = node.run("openai_client.mjs", server.base_url, "stream")

    assert result == {
        "types": [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ],
        "deltas": ["streamed ", "to ", "you"],
        "text": "streamed to you",
        "status": "completed",
    }


def test_openai_js_continues_a_conversation_and_lists_its_items(
    node: NodeClients, server: RunningServer
) -> None:
    result = node.run("openai_client.mjs", server.base_url, "conversation")

    assert result["conversation"].startswith("thr_")
    assert result["text"] == "noted"
    assert result["items"] == [
        ["message", "user", "remember the number 7"],
        ["message", "user", "say noted"],
        ["message", "assistant", "noted"],
    ]


def test_openai_js_round_trips_a_function_tool(node: NodeClients, server: RunningServer) -> None:
    result = node.run("openai_client.mjs", server.base_url, "function_tool")

    assert result == {
        "call": {"name": "lookup", "arguments": {"word": "threadline"}},
        "first_status": "completed",
        "text": "lookup returned a durable thread",
    }


def test_openai_js_approves_an_agent_tool_through_its_mcp_entry(
    node: NodeClients, server: RunningServer
) -> None:
    result = node.run("openai_client.mjs", server.base_url, "approval")

    assert result == {
        "request": ["threadline", "transfer", {"amount": 5}],
        "call": ["threadline", "transfer", "sent 5"],
        "text": "transfer returned sent 5",
    }


def test_the_ai_sdk_generates_text(node: NodeClients, server: RunningServer) -> None:
    result = node.run("ai_sdk.mjs", server.base_url, "generate")

    assert result == {"text": "hello from the AI SDK", "finishReason": "stop"}


def test_the_ai_sdk_streams_text(node: NodeClients, server: RunningServer) -> None:
    result = node.run("ai_sdk.mjs", server.base_url, "stream")

    assert result == {
        "chunks": ["streamed ", "by ", "the ", "AI ", "SDK"],
        "text": "streamed by the AI SDK",
        "finishReason": "stop",
    }


def test_the_ai_sdk_runs_a_client_tool_over_several_steps(
    node: NodeClients, server: RunningServer
) -> None:
    result = node.run("ai_sdk.mjs", server.base_url, "tool_steps")

    assert result == {
        "lookups": ["threadline"],
        "steps": ["tool-calls", "stop"],
        "text": "lookup returned threadline means a durable thread",
    }


def test_the_ai_sdk_streams_a_client_tool_over_several_steps(
    node: NodeClients, server: RunningServer
) -> None:
    result = node.run("ai_sdk.mjs", server.base_url, "stream_tool_steps")

    assert result == {
        "lookups": ["streams"],
        "steps": ["tool-calls", "stop"],
        "text": "lookup returned streams means a durable thread",
    }
