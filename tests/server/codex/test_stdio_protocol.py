"""The app-server protocol over stdio, message by message, against `threadline app-server`
in a subprocess: the exact notifications of a tool-calling turn, bad input, and approvals
that survive the client and the server going away."""

from __future__ import annotations

from pathlib import Path

import orjson
from codex_harness import Schema, StdioPeer, normalized
from inline_snapshot import snapshot

TEXT = {"type": "text", "text": ""}


def text(value: str) -> list[dict[str, str]]:
    return [{**TEXT, "text": value}]


async def start_thread(peer: StdioPeer) -> str:
    await peer.initialize()
    response = await peer.request("thread/start", {})
    return response["result"]["thread"]["id"]


async def test_a_tool_calling_turn_sends_these_notifications_in_this_order(
    stdio: StdioPeer, schema: Schema
) -> None:
    thread_id = await start_thread(stdio)
    await stdio.until("thread/started")
    response = await stdio.request(
        "turn/start", {"threadId": thread_id, "input": text("weather in Paris")}
    )
    schema.check("TurnStartResponse", response["result"])
    await stdio.until("thread/status/changed", status={"type": "idle"})
    messages = [response, *stdio.seen]
    for message in messages[1:]:
        schema.check_message(message)

    assert normalized(messages) == snapshot(
        [
            {
                "id": 3,
                "result": {
                    "turn": {
                        "id": "<turn1>",
                        "items": [],
                        "status": "inProgress",
                        "error": None,
                        "startedAt": "<time>",
                        "completedAt": None,
                        "durationMs": None,
                    }
                },
            },
            {
                "method": "thread/status/changed",
                "params": {"threadId": "<thr1>", "status": {"type": "active", "activeFlags": []}},
            },
            {
                "method": "turn/started",
                "params": {
                    "threadId": "<thr1>",
                    "turn": {
                        "id": "<turn1>",
                        "items": [],
                        "status": "inProgress",
                        "error": None,
                        "startedAt": "<time>",
                        "completedAt": None,
                        "durationMs": None,
                    },
                },
            },
            {
                "method": "item/started",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "item": {
                        "type": "userMessage",
                        "id": "<item1>",
                        "content": [
                            {"type": "text", "text": "weather in Paris", "text_elements": []}
                        ],
                    },
                    "startedAtMs": "<time>",
                },
            },
            {
                "method": "item/completed",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "item": {
                        "type": "userMessage",
                        "id": "<item1>",
                        "content": [
                            {"type": "text", "text": "weather in Paris", "text_elements": []}
                        ],
                    },
                    "completedAtMs": "<time>",
                },
            },
            {
                "method": "item/started",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "item": {
                        "type": "mcpToolCall",
                        "id": "<call1>",
                        "server": "threadline",
                        "tool": "get_weather",
                        "arguments": {},
                        "status": "inProgress",
                        "result": None,
                        "error": None,
                        "durationMs": None,
                    },
                    "startedAtMs": "<time>",
                },
            },
            {
                "method": "thread/tokenUsage/updated",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "tokenUsage": {
                        "last": {
                            "inputTokens": 10,
                            "cachedInputTokens": 0,
                            "outputTokens": 1,
                            "reasoningOutputTokens": 0,
                            "totalTokens": 11,
                        },
                        "total": {
                            "inputTokens": 10,
                            "cachedInputTokens": 0,
                            "outputTokens": 1,
                            "reasoningOutputTokens": 0,
                            "totalTokens": 11,
                        },
                        "modelContextWindow": None,
                    },
                },
            },
            {
                "method": "item/completed",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "item": {
                        "type": "mcpToolCall",
                        "id": "<call1>",
                        "server": "threadline",
                        "tool": "get_weather",
                        "arguments": {"city": "Paris"},
                        "status": "completed",
                        "result": {
                            "content": [{"type": "text", "text": '{"city":"Paris","temp_c":18}'}],
                            "structuredContent": None,
                        },
                        "error": None,
                        "durationMs": None,
                    },
                    "completedAtMs": "<time>",
                },
            },
            {
                "method": "item/started",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "item": {"type": "agentMessage", "id": "<item2>", "text": "", "phase": None},
                    "startedAtMs": "<time>",
                },
            },
            {
                "method": "item/agentMessage/delta",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "itemId": "<item2>",
                    "delta": "get_weather ",
                },
            },
            {
                "method": "item/agentMessage/delta",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "itemId": "<item2>",
                    "delta": "said: ",
                },
            },
            {
                "method": "item/agentMessage/delta",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "itemId": "<item2>",
                    "delta": '{"city":"Paris","temp_c":18}',
                },
            },
            {
                "method": "thread/tokenUsage/updated",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "tokenUsage": {
                        "last": {
                            "inputTokens": 10,
                            "cachedInputTokens": 0,
                            "outputTokens": 3,
                            "reasoningOutputTokens": 0,
                            "totalTokens": 13,
                        },
                        "total": {
                            "inputTokens": 20,
                            "cachedInputTokens": 0,
                            "outputTokens": 4,
                            "reasoningOutputTokens": 0,
                            "totalTokens": 24,
                        },
                        "modelContextWindow": None,
                    },
                },
            },
            {
                "method": "item/completed",
                "params": {
                    "threadId": "<thr1>",
                    "turnId": "<turn1>",
                    "item": {
                        "type": "agentMessage",
                        "id": "<item2>",
                        "text": 'get_weather said: {"city":"Paris","temp_c":18}',
                        "phase": None,
                    },
                    "completedAtMs": "<time>",
                },
            },
            {
                "method": "turn/completed",
                "params": {
                    "threadId": "<thr1>",
                    "turn": {
                        "id": "<turn1>",
                        "items": [],
                        "status": "completed",
                        "error": None,
                        "startedAt": "<time>",
                        "completedAt": "<time>",
                        "durationMs": "<time>",
                    },
                },
            },
        ]
    )


async def test_unknown_methods_missing_ids_and_bad_json_get_clear_errors(stdio: StdioPeer) -> None:
    assert (await stdio.request("thread/start"))["error"] == {
        "code": -32600,
        "message": "Not initialized: send `initialize` first",
    }
    await stdio.initialize()

    assert (await stdio.request("thread/teleport"))["error"] == {
        "code": -32601,
        "message": "method not found: thread/teleport",
    }
    await stdio.send({"method": "thread/start", "params": {}})
    assert (await stdio.response(None))["error"]["message"] == (
        "`thread/start` is a request and needs an `id`"
    )
    await stdio.send_raw("{not json")
    assert (await stdio.response(None))["error"]["code"] == -32700
    assert (await stdio.request("thread/read", {"threadId": 7}))["error"] == {
        "code": -32602,
        "message": "`threadId` must be a string",
    }
    assert (await stdio.request("thread/read", {"threadId": "thr_missing"}))["error"] == {
        "code": -32004,
        "message": "no thread 'thr_missing'",
        "data": {
            "code": "not_found",
            "message": "no thread 'thr_missing'",
            "thread_id": "thr_missing",
        },
    }
    assert (await stdio.request("initialize", {"clientInfo": {"name": "again"}}))["error"][
        "message"
    ] == "Already initialized"
    assert "result" in await stdio.request("model/list")  # still serving


async def test_oversized_deep_and_batched_messages_are_refused_and_change_nothing(
    stdio: StdioPeer,
) -> None:
    await stdio.initialize()
    big = orjson.dumps(
        {
            "id": 99,
            "method": "thread/start",
            "params": {"metadata": {"blob": "x" * (5 * 1024 * 1024)}},
        }
    )
    await stdio.send_raw(big)
    assert (await stdio.response(None))["error"]["message"] == (
        f"message of {len(big)} bytes is over the limit of {4 * 1024 * 1024} bytes"
    )
    deep = (
        '{"id": 100, "method": "thread/start", "params": {"metadata": '
        + ('{"a": ' * 200)
        + "1"
        + "}" * 200
        + "}}"
    )
    await stdio.send_raw(deep)
    assert (await stdio.response(100))["error"] == {
        "code": -32600,
        "message": "JSON nested deeper than 64 levels",
    }
    batch = [{"id": n, "method": "thread/start", "params": {}} for n in range(5000)]
    await stdio.send(batch)  # type: ignore[arg-type]
    assert (await stdio.response(None))["error"]["message"].startswith("batches are not supported")

    listed = await stdio.request("thread/list")
    assert listed["result"]["data"] == []


async def test_a_pending_approval_is_asked_again_after_the_client_and_server_restart(
    stdio: StdioPeer, db_path: Path, tmp_path: Path, schema: Schema
) -> None:
    thread_id = await start_thread(stdio)
    await stdio.request("turn/start", {"threadId": thread_id, "input": text("pay 5 to Ann")})
    first = await stdio.until("mcpServer/elicitation/request")
    schema.check_message(first)
    assert await stdio.close() == 0  # the client goes away; the server process ends

    restarted = await StdioPeer.start(db_path, tmp_path)
    try:
        await restarted.initialize()
        resumed = await restarted.request("thread/resume", {"threadId": thread_id})
        schema.check("ThreadResumeResponse", resumed["result"])
        assert resumed["result"]["thread"]["status"] == {
            "type": "active",
            "activeFlags": ["waitingOnApproval"],
        }
        again = await restarted.until("mcpServer/elicitation/request")
        assert again["params"] == first["params"]

        await restarted.send({"id": again["id"], "result": {"action": "accept", "content": {}}})
        resolved = await restarted.until("serverRequest/resolved")
        assert resolved["params"] == {"threadId": thread_id, "requestId": again["id"]}
        completed = await restarted.until("turn/completed")
        assert completed["params"]["turn"]["status"] == "completed"
        message = await restarted.until("item/completed", turnId=completed["params"]["turn"]["id"])
        while message["params"]["item"]["type"] != "agentMessage":
            message = await restarted.until("item/completed")
        assert message["params"]["item"]["text"] == "transfer said: sent 5 to Ann"
    finally:
        await restarted.close()
