"""Streams and snapshots as an Open Responses client reads them, checked against the rules of
the specification (`open_responses_rules`): SSE framing with `[DONE]` last, every event and
item with its required fields, gap-free numbers, items added, filled and done in order, and
the implementor's prefix on every type the specification does not define. The agent's own
tools and approvals take prefixed item types on a server started with `open_responses=True`;
OpenAI's clients keep `mcp_call` on the default server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from open_responses_rules import check_events, check_item, check_response, parse_sse
from responses_harness import RunningServer

Body = dict[str, Any]


def _stream(server: RunningServer, body: Body) -> list[dict[str, Any]]:
    with httpx.stream(
        "POST", f"{server.base_url}/responses", json={**body, "stream": True}, timeout=30
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        raw = "".join(reply.iter_text())
    events, framing = parse_sse(raw)
    assert framing == []
    assert check_events(events) == []
    return events  # type: ignore[return-value]


def _create(server: RunningServer, body: Body) -> dict[str, Any]:
    reply = httpx.post(f"{server.base_url}/responses", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    assert check_response(reply.json()) == []
    return reply.json()


def _retrieve(server: RunningServer, response_id: str) -> dict[str, Any]:
    snapshot = httpx.get(f"{server.base_url}/responses/{response_id}").json()
    assert check_response(snapshot) == []
    return snapshot


PIXEL = (  # a 1x1 PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
TEXTS: list[Any] = [
    "say a b c",
    [
        {
            "type": "message",
            "role": "user",
            "content": [
                {"type": "input_text", "text": "say a picture"},
                {"type": "input_image", "image_url": PIXEL},
            ],
        }
    ],
    [{"type": "message", "role": "user", "content": "say hello there"}],
    [
        {"type": "message", "role": "system", "content": "Be a pirate."},
        {"type": "message", "role": "user", "content": "say arr"},
    ],
]


# Text answers read the same in both dialects; reasoning is the Open Responses one's.
@pytest.mark.parametrize(
    ("dialect", "text"),
    [
        *(("server", text) for text in TEXTS),
        *(("open_responses_server", text) for text in [*TEXTS, "reason all is well"]),
    ],
)
def test_answers_follow_the_specification(
    request: pytest.FixtureRequest, dialect: str, text: Any
) -> None:
    server: RunningServer = request.getfixturevalue(dialect)

    events = _stream(server, {"model": "assistant", "input": text})
    snapshot = _create(server, {"model": "assistant", "input": text})

    assert events[-1]["response"]["status"] == snapshot["status"] == "completed"
    assert _retrieve(server, snapshot["id"])["output"] == snapshot["output"]


def test_a_quiet_stream_sends_keep_alive_comments(server: RunningServer) -> None:
    body = {"model": "assistant", "input": "slow 2.6", "stream": True}  # keep-alive: 0.5 s
    with httpx.stream("POST", f"{server.base_url}/responses", json=body, timeout=30) as reply:
        raw = "".join(reply.iter_text())

    assert ": keep-alive\n\n" in raw
    assert parse_sse(raw)[1] == []


def test_the_agents_tools_are_prefixed_items(open_responses_server: RunningServer) -> None:
    events = _stream(open_responses_server, {"model": "assistant", "input": "weather Paris"})

    calls = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    assert calls[0] == {
        "type": "threadline:tool_call",
        "id": calls[0]["id"],
        "status": "completed",
        "call_id": "call_get_weather_0",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
        "output": '{"city":"Paris","temp_c":18}',
        "error": None,
        "approval_request_id": None,
    }
    assert not [e for e in events if e["type"].startswith("response.mcp")]
    snapshot = _retrieve(open_responses_server, events[0]["response"]["id"])
    assert [i["type"] for i in snapshot["output"]] == ["threadline:tool_call", "message"]


def test_openai_clients_keep_mcp_call_items(server: RunningServer) -> None:
    body = {"model": "assistant", "input": "weather Oslo"}
    snapshot = httpx.post(f"{server.base_url}/responses", json=body, timeout=30).json()
    assert [i["type"] for i in snapshot["output"]] == ["mcp_call", "message"]


def test_an_approval_pause_and_its_answer_are_prefixed_items(
    open_responses_server: RunningServer,
) -> None:
    server = open_responses_server
    paused = _stream(server, {"model": "assistant", "input": "transfer 5"})
    request = paused[-1]["response"]["output"][-1]
    assert request["type"] == "threadline:approval_request"
    assert request["name"] == "transfer"

    answer = [
        {
            "type": "threadline:approval_response",
            "approval_request_id": request["id"],
            "approve": True,
        }
    ]
    previous = paused[0]["response"]["id"]
    events = _stream(
        server, {"model": "assistant", "previous_response_id": previous, "input": answer}
    )

    output = events[-1]["response"]["output"]
    assert [i["type"] for i in output] == ["threadline:tool_call", "message"]
    assert output[0]["output"] == "sent 5"
    assert output[0]["approval_request_id"] == request["id"]
    listed = httpx.get(f"{server.base_url}/responses/{events[0]['response']['id']}/input_items")
    assert [i["type"] for i in listed.json()["data"]] == ["threadline:approval_response"]
    assert all(check_item(i, "input item") == [] for i in listed.json()["data"])


def test_reasoning_streams_under_the_specifications_names(
    open_responses_server: RunningServer,
) -> None:
    events = _stream(open_responses_server, {"model": "assistant", "input": "reason fine"})

    types = [e["type"] for e in events]
    assert "response.reasoning.delta" in types
    assert "response.reasoning.done" in types
    reasoning = events[-1]["response"]["output"][0]
    assert reasoning["type"] == "reasoning"
    assert "encrypted_content" not in reasoning


def test_a_function_tool_call_streams_its_arguments(open_responses_server: RunningServer) -> None:
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    events = _stream(
        open_responses_server,
        {"model": "assistant", "input": 'client lookup {"q": "x"}', "tools": [tool]},
    )

    types = [e["type"] for e in events]
    assert "response.function_call_arguments.delta" in types
    assert events[-1]["response"]["output"][0]["type"] == "function_call"
