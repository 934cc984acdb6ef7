"""`threadline serve --workers 0`: the server only stores turns; a worker elsewhere runs them,
and the client sees the same answer. The Codex protocol is mounted on the same server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import openai
import websockets
from apps import agents
from responses_harness import start_server, stop_server

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
