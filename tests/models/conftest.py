"""Fixtures for the model backends: the bundled model, a real llama.cpp server, requests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from threadline.models import (
    LocalModel,
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ToolSpec,
    local_model_path,
)
from threadline.types import Item, Payload, TextPart, UserMessage

SERVER_START_TIMEOUT = 60.0


Ask = Callable[..., ModelRequest]
Collect = Callable[[AsyncIterator[ModelEvent]],
                   Awaitable[tuple[list[ModelEvent], ModelResponse]]]


def _ask(text: str, *, tools: Sequence[ToolSpec] = (), instructions: str | None = None,
         max_output_tokens: int | None = None, temperature: float | None = 0.0,
         history: Sequence[Payload] = ()) -> ModelRequest:
    payloads = [UserMessage(content=(TextPart(text=text),)), *history]
    items = [Item(item_id=f"item_{seq}", thread_id="thread_1", turn_id="turn_1", seq=seq,
                  status="completed", payload=payload, created_at=1_700_000_000.0 + seq)
             for seq, payload in enumerate(payloads, start=1)]
    return ModelRequest(instructions=instructions, items=items, tools=tools,
                        max_output_tokens=max_output_tokens, temperature=temperature)


async def _collect(events: AsyncIterator[ModelEvent]) -> tuple[list[ModelEvent], ModelResponse]:
    collected = [event async for event in events]
    final = collected[-1]
    assert isinstance(final, ModelResponse)
    assert not any(isinstance(event, ModelResponse) for event in collected[:-1])
    return collected[:-1], final


@pytest.fixture
def ask() -> Ask:
    """`ask(text, tools=..., history=[payloads after the user message], ...)`: a request that
    starts with one user message; greedy sampling unless `temperature` says otherwise."""
    return _ask


@pytest.fixture
def collect() -> Collect:
    """`await collect(model.stream(request))`: the deltas, and the final response, which
    must come last and only once."""
    return _collect


@pytest.fixture
def weather_spec() -> ToolSpec:
    return ToolSpec(
        name="get_weather",
        description="Get the current weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}},
                    "required": ["city"]},
    )


@pytest.fixture(scope="session")
def bundled_model_path() -> str:
    return local_model_path()


@pytest.fixture(scope="session")
def local_model() -> LocalModel:
    return LocalModel()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    """A loopback port that nothing listens on."""
    return _free_port()


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited with {process.returncode}:\n"
                        f"{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        # Polling an observable state, not waiting for a guessed duration.
        time.sleep(0.1)
    pytest.fail(f"llama.cpp server did not answer {url} within {SERVER_START_TIMEOUT}s")


@pytest.fixture(scope="session")
def llama_server(bundled_model_path: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:
    """The base URL (`.../v1`) of a real llama-cpp-python server on the bundled model."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", bundled_model_path,
             "--chat_format", "chatml-function-calling", "--host", "127.0.0.1",
             "--port", str(port)],
            stdout=output, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(process, f"{base_url}/models", log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(kw_only=True)
class FakeReply:
    """One canned answer: an error status with a JSON body, or an SSE stream of chunks."""

    status: int = 200
    error: dict[str, Any] | None = None
    chunks: Sequence[dict[str, Any]] = ()
    done: bool = True  # send `data: [DONE]` and end the body properly
    hang: bool = False  # after the chunks, keep the stream open until the client leaves


@dataclass
class FakeOpenAIServer:
    """A real HTTP server on loopback that answers Chat Completions calls with canned
    replies, for the failures a real provider cannot be made to produce on demand."""

    base_url: str = ""
    replies: list[FakeReply] = field(default_factory=list[FakeReply])
    requests: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    headers: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    client_left: asyncio.Event = field(default_factory=asyncio.Event)

    def add_reply(self, **reply: Any) -> None:
        """Queue the answer to the next request; see `FakeReply`."""
        self.replies.append(FakeReply(**reply))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            headers: dict[str, str] = {}
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.headers.append(headers)
            length = int(headers.get("content-length", "0"))
            self.requests.append(json.loads(await reader.readexactly(length)))
            await self._reply(self.replies.pop(0), reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _reply(self, reply: FakeReply, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        if reply.status != 200:
            body = json.dumps({"error": reply.error or {"message": "failed"}}).encode()
            writer.write(f"HTTP/1.1 {reply.status} Error\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                         + body)
            await writer.drain()
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        events = [f"data: {json.dumps(chunk)}\n\n" for chunk in reply.chunks]
        if reply.done:
            events.append("data: [DONE]\n\n")
        for event in events:
            data = event.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        if reply.hang:
            await reader.read()  # returns when the client closes its end
            self.client_left.set()
        elif reply.done:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        # Otherwise the body ends without its last chunk: a stream cut off mid-way.


def chunk(*, content: str | None = None, tool_calls: list[dict[str, Any]] | None = None,
          finish_reason: str | None = None, usage: dict[str, Any] | None = None,
          **delta_extra: Any) -> dict[str, Any]:
    """A `chat.completion.chunk` as OpenAI sends it."""
    delta: dict[str, Any] = {**delta_extra}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    choices = [] if usage is not None and finish_reason is None and not delta else [
        {"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "fake", "choices": choices, "usage": usage}


MakeChunk = Callable[..., dict[str, Any]]


@pytest.fixture
def make_chunk() -> MakeChunk:
    """`make_chunk(content=..., tool_calls=..., finish_reason=..., usage=...)`."""
    return chunk


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAIServer]:
    fake = FakeOpenAIServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}/v1"
    async with server:
        yield fake
