"""`threadline serve --workers 0`: the server only stores turns; a worker elsewhere runs them,
and the client sees the same answer. The Codex protocol is mounted on the same server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import openai
import websockets
from apps import agents
from responses_harness import API_KEYS, start_server, stop_server

import threadline as tl


async def test_an_api_server_without_workers_answers_through_a_worker(tmp_path: Path) -> None:
    db = tmp_path / "split.db"
    server, handle = start_server(db, workers=0)
    worker = tl.Threadline(agents=agents(), store=db)
    stop = asyncio.Event()
    try:
        async with worker:
            working = asyncio.create_task(worker.work(concurrency=2, idle_wait=0.05, stop=stop))
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused")
            async with client:
                response = await client.responses.create(model="assistant", input="hello")
                streamed = [
                    e.type
                    async for e in await client.responses.create(
                        model="assistant", input="hello again", stream=True
                    )
                ]
            stop.set()
            await working
    finally:
        stop_server(handle)

    assert response.status == "completed"
    assert response.output_text
    assert streamed[0] == "response.created"
    assert streamed[-1] == "response.completed"


async def test_the_codex_protocol_is_served_on_the_same_port(tmp_path: Path) -> None:
    server, handle = start_server(tmp_path / "codex.db")
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/codex") as ws:
            await ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {"clientInfo": {"name": "t", "version": "1"}},
                    }
                )
            )
            reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    finally:
        stop_server(handle)
    assert reply["id"] == 1
    assert "result" in reply


async def test_each_key_sees_only_its_own_threads_over_the_codex_protocol(
    keyed_server: Any,
) -> None:
    url = f"ws://127.0.0.1:{keyed_server.port}/codex"

    async def peer(key: str) -> Any:
        ws = await websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"})
        await call(ws, 1, "initialize", {"clientInfo": {"name": "t", "version": "1"}})
        return ws

    alice, bob = await peer(API_KEYS[0]), await peer(API_KEYS[1])
    try:
        started = await call(alice, 2, "thread/start", {})
        thread_id = started["result"]["thread"]["id"]
        alices = await call(alice, 3, "thread/list", {})
        bobs = await call(bob, 3, "thread/list", {})
        read = await call(bob, 4, "thread/read", {"threadId": thread_id})
    finally:
        await alice.close()
        await bob.close()

    assert thread_id in [t["id"] for t in alices["result"]["data"]]
    assert thread_id not in [t["id"] for t in bobs["result"]["data"]]
    assert "error" in read


async def call(ws: Any, request_id: int, method: str, params: dict[str, Any]) -> Any:
    await ws.send(
        json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    )
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message.get("id") == request_id:
            return message
