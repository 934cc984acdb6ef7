"""The Responses WebSocket mode on `/v1/responses`: `response.create` messages answered with
the events a stream would carry (numbered alike, checked against the Open Responses rules,
no `[DONE]`), one response after another on a connection; store=false responses usable on
their own connection only; errors as `error` messages; the same gate as every route (the
Origin check: test_browser_requests)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
import websockets
from open_responses_rules import check_events
from responses_harness import API_KEYS, RunningServer
from websockets.asyncio.client import ClientConnection

import threadline as tl

Message = dict[str, Any]
TERMINAL = ("response.completed", "response.failed", "response.incomplete", "error")


def _url(server: RunningServer) -> str:
    return f"ws://127.0.0.1:{server.port}/v1/responses"


async def _turn(ws: ClientConnection, **body: Any) -> list[Message]:
    """Send one response.create; the messages up to its terminal one."""
    await ws.send(json.dumps({"type": "response.create", "model": "assistant", **body}))
    messages: list[Message] = []
    while not messages or messages[-1]["type"] not in TERMINAL:
        async with asyncio.timeout(30):
            messages.append(json.loads(await ws.recv()))
    return messages


@pytest.fixture
async def ws(server: RunningServer) -> AsyncIterator[ClientConnection]:
    async with websockets.connect(_url(server)) as connection:
        yield connection


async def test_a_response_streams_as_on_http(ws: ClientConnection) -> None:
    events = await _turn(ws, input=[{"type": "message", "role": "user", "content": "say a b c"}])

    assert check_events(events) == []
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert deltas == ["a ", "b ", "c"]
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "a b c"


async def test_responses_follow_one_another_on_a_connection(ws: ClientConnection) -> None:
    first = await _turn(ws, input="say first", store=False)
    second = await _turn(ws, input="say second", store=False)

    for events in (first, second):
        assert check_events(events) == []
    assert first[-1]["response"]["output"][0]["content"][0]["text"] == "first"
    assert second[-1]["response"]["output"][0]["content"][0]["text"] == "second"
    assert first[0]["response"]["id"] != second[0]["response"]["id"]


async def test_messages_sent_at_once_are_answered_in_order(ws: ClientConnection) -> None:
    for word in ("one", "two"):
        await ws.send(json.dumps({"type": "response.create", "input": f"say {word}"}))
    texts: list[str] = []
    while len(texts) < 2:
        async with asyncio.timeout(30):
            message = json.loads(await ws.recv())
        if message["type"] == "response.completed":
            texts.append(message["response"]["output"][0]["content"][0]["text"])

    assert texts == ["one", "two"]


async def test_a_store_false_response_continues_on_its_connection_only(
    server: RunningServer, ws: ClientConnection
) -> None:
    first = await _turn(ws, input="say remember cobalt", store=False)
    response_id = first[-1]["response"]["id"]

    again = await _turn(ws, input="say cobalt", store=False, previous_response_id=response_id)
    assert check_events(again) == []
    assert again[-1]["response"]["status"] == "completed"

    async with websockets.connect(_url(server)) as other:
        refused = await _turn(other, input="say x", store=False, previous_response_id=response_id)
    assert refused == [
        {
            "type": "error",
            "status": 404,
            "error": {
                "message": f"Response with id '{response_id}' not found.",
                "type": "invalid_request_error",
                "param": "previous_response_id",
                "code": "previous_response_not_found",
            },
        }
    ]
    with (
        openai.OpenAI(base_url=server.base_url, api_key="-", max_retries=0) as client,
        pytest.raises(openai.NotFoundError),
    ):
        client.responses.retrieve(response_id)


async def test_a_closed_connection_deletes_its_store_false_conversations(
    server: RunningServer,
) -> None:
    async with websockets.connect(_url(server)) as ws:
        events = await _turn(ws, input="say gone soon", store=False)
    thread_id = events[-1]["response"]["conversation"]["id"]

    async with tl.SQLiteStore(server.db) as store:
        for _ in range(500):
            if await store.get_thread(thread_id) is None:
                break
            await asyncio.sleep(0.01)
        assert await store.get_thread(thread_id) is None


async def test_an_unknown_previous_response_is_not_found(ws: ClientConnection) -> None:
    [error] = await _turn(ws, input="x", store=False, previous_response_id="resp_missing_1")

    assert error["type"] == "error"
    assert error["error"]["code"] == "previous_response_not_found"


async def test_a_failed_continuation_evicts_the_response_it_continued(
    ws: ClientConnection,
) -> None:
    first = await _turn(ws, input="say ember", store=False)
    response_id = first[-1]["response"]["id"]
    orphan = [{"type": "function_call_output", "call_id": "call_missing", "output": "x"}]

    [failed] = await _turn(ws, input=orphan, store=False, previous_response_id=response_id)
    [stale] = await _turn(ws, input="say stale", store=False, previous_response_id=response_id)

    assert (failed["type"], failed["status"]) == ("error", 400)
    assert stale["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"type": "response.cancel"}, "type"),
        ({"type": "response.create", "input": "x", "background": True}, "background"),
        ({"type": "response.create", "input": "x", "generate": False}, "generate"),
        ({"type": "response.create"}, "input"),
    ],
)
async def test_a_request_that_cannot_start_gets_an_error_and_the_connection_stays(
    ws: ClientConnection, message: Message, param: str
) -> None:
    await ws.send(json.dumps(message))
    async with asyncio.timeout(30):
        error = json.loads(await ws.recv())

    assert (error["type"], error["status"], error["error"]["param"]) == ("error", 400, param)
    assert isinstance(error["error"]["code"], str)
    assert (await _turn(ws, input="say still here"))[-1]["type"] == "response.completed"


async def test_a_message_that_is_not_json_gets_an_error(ws: ClientConnection) -> None:
    await ws.send("{not json")
    async with asyncio.timeout(30):
        error = json.loads(await ws.recv())

    assert error["error"]["code"] == "invalid_json"


async def test_a_stream_id_tags_every_event(ws: ClientConnection) -> None:
    events = await _turn(ws, input="say tagged", stream_id="lane-1")

    assert {e["stream_id"] for e in events} == {"lane-1"}


async def test_the_openai_sdk_connects(server: RunningServer) -> None:
    completed: list[str] = []
    async with (
        openai.AsyncOpenAI(base_url=server.base_url, api_key="-", max_retries=0) as client,
        client.responses.connect() as connection,
    ):
        await connection.response.create(model="assistant", input="say over sockets")
        async for event in connection:
            if event.type == "response.completed":
                completed.append(event.response.output_text)
                break

    assert completed == ["over sockets"]


async def test_a_keyed_server_wants_the_key(keyed_server: RunningServer) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(_url(keyed_server)):
            pass

    headers = {"Authorization": f"Bearer {API_KEYS[0]}"}
    async with websockets.connect(_url(keyed_server), additional_headers=headers) as ws:
        events = await _turn(ws, input="say with key")
    assert events[-1]["response"]["status"] == "completed"
