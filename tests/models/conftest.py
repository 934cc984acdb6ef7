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
from threadline.types import (
    AgentMessage,
    ErrorPayload,
    ImagePart,
    Item,
    ItemStatus,
    Payload,
    Reasoning,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

SERVER_START_TIMEOUT = 60.0


Ask = Callable[..., ModelRequest]
Collect = Callable[[AsyncIterator[ModelEvent]], Awaitable[tuple[list[ModelEvent], ModelResponse]]]


def _ask(
    text: str,
    *,
    tools: Sequence[ToolSpec] = (),
    instructions: str | None = None,
    max_output_tokens: int | None = None,
    temperature: float | None = 0.0,
    history: Sequence[Payload] = (),
) -> ModelRequest:
    payloads = [UserMessage(content=(TextPart(text=text),)), *history]
    items = [
        Item(
            item_id=f"item_{seq}",
            thread_id="thread_1",
            turn_id="turn_1",
            seq=seq,
            status="completed",
            payload=payload,
            created_at=1_700_000_000.0 + seq,
        )
        for seq, payload in enumerate(payloads, start=1)
    ]
    return ModelRequest(
        instructions=instructions,
        items=items,
        tools=tools,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
    )


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
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
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
            pytest.fail(
                f"llama.cpp server exited with {process.returncode}:\n"
                f"{log.read_text(errors='replace')[-4000:]}"
            )
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
def llama_server(
    bundled_model_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The base URL (`.../v1`) of a real llama-cpp-python server on the bundled model."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                bundled_model_path,
                "--chat_format",
                "chatml-function-calling",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
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


TRANSCRIPTS = Path(__file__).parent / "transcripts"


@dataclass(kw_only=True)
class FakeReply:
    """One canned answer: an error status with a JSON body, or a stream of SSE events."""

    status: int = 200
    reason: str = "OK"
    headers: dict[str, str] = field(default_factory=dict[str, str])
    error: dict[str, Any] | None = None  # an OpenAI error object, sent as {"error": ...}
    body: str | None = None  # a body sent as it is
    chunks: Sequence[dict[str, Any]] = ()  # Chat Completions chunks, as `data:` events
    events: Sequence[str] = ()  # SSE events as they are written on the wire
    done: bool = True  # chunks: send `data: [DONE]`; both: end the body properly
    cut_after: int | None = None  # send this many events, then cut the connection
    hang: bool = False  # after the events, keep the stream open until the client leaves


def transcript(name: str, **options: Any) -> FakeReply:
    """The reply stored in `transcripts/NAME.http`: a status line, headers, a blank line and
    the body, exactly as the provider sends them."""
    text = (TRANSCRIPTS / f"{name}.http").read_text()
    head, _, body = text.partition("\n\n")
    status_line, *header_lines = head.split("\n")
    _, status, reason = status_line.split(" ", 2)
    headers = dict(line.split(": ", 1) for line in header_lines)
    if headers.get("content-type", "").startswith("text/event-stream"):
        events = [event + "\n\n" for event in body.split("\n\n") if event.strip()]
        return FakeReply(
            status=int(status), reason=reason, headers=headers, events=events, **options
        )
    return FakeReply(status=int(status), reason=reason, headers=headers, body=body, **options)


@dataclass
class FakeServer:
    """A real HTTP server on loopback that answers each request with the next canned reply,
    for the answers and failures a real provider cannot be made to give on demand. It
    records every request: its path, headers and JSON body."""

    base_url: str = ""
    replies: list[FakeReply] = field(default_factory=list[FakeReply])
    paths: list[str] = field(default_factory=list[str])
    requests: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    headers: list[dict[str, str]] = field(default_factory=list[dict[str, str]])
    client_left: asyncio.Event = field(default_factory=asyncio.Event)

    def add_reply(self, **reply: Any) -> None:
        """Queue the answer to the next request; see `FakeReply`."""
        self.replies.append(FakeReply(**reply))

    def add_transcript(self, name: str, **options: Any) -> None:
        """Queue the reply stored in `transcripts/NAME.http`; options as for `FakeReply`."""
        self.replies.append(transcript(name, **options))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            self.paths.append(request_line.split(" ")[1])
            headers: dict[str, str] = {}
            for line in lines:
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

    async def _reply(
        self, reply: FakeReply, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        extra = "".join(
            f"{name}: {value}\r\n"
            for name, value in reply.headers.items()
            if name.lower() != "content-type"
        )
        if reply.status != 200:
            text = (
                reply.body
                if reply.body is not None
                else json.dumps({"error": reply.error or {"message": "failed"}})
            )
            body = text.encode()
            writer.write(
                f"HTTP/1.1 {reply.status} {reply.reason}\r\n"
                f"Content-Type: application/json\r\n{extra}"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            return
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n{extra}"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        )
        events = [*reply.events, *(f"data: {json.dumps(chunk)}\n\n" for chunk in reply.chunks)]
        if reply.chunks and reply.done:
            events.append("data: [DONE]\n\n")
        if reply.cut_after is not None:
            events = events[: reply.cut_after]
        for event in events:
            data = event.encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
        if reply.hang:
            await reader.read()  # returns when the client closes its end
            self.client_left.set()
        elif reply.done and reply.cut_after is None:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        # Otherwise the body ends without its last chunk: a stream cut off mid-way.


def chunk(
    *,
    content: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, Any] | None = None,
    **delta_extra: Any,
) -> dict[str, Any]:
    """A `chat.completion.chunk` as OpenAI sends it."""
    delta: dict[str, Any] = {**delta_extra}
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    choices = (
        []
        if usage is not None and finish_reason is None and not delta
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    )
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "fake",
        "choices": choices,
        "usage": usage,
    }


MakeChunk = Callable[..., dict[str, Any]]


@pytest.fixture
def make_chunk() -> MakeChunk:
    """`make_chunk(content=..., tool_calls=..., finish_reason=..., usage=...)`."""
    return chunk


async def _serve(path: str) -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fake.base_url = f"http://127.0.0.1:{port}{path}"
    async with server:
        yield fake


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeServer]:
    """A `FakeServer` whose `base_url` is what the `openai` SDK wants (`.../v1`)."""
    async for fake in _serve("/v1"):
        yield fake


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeServer]:
    """A `FakeServer` whose `base_url` is what the `anthropic` SDK wants (no `/v1`)."""
    async for fake in _serve(""):
        yield fake


class FakeSleep:
    """An injectable `sleep` that records how long the backend asked to wait, and does not."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


REASONING_DATA: dict[str, Any] = {
    "openai_responses": {
        "skeleton": [
            {
                "type": "reasoning",
                "id": "rs_1",
                "encrypted_content": "gAAAAABencrypted",
                "summary": [{"type": "summary_text", "text": "Two cities: two calls."}],
            },
            {"type": "message", "id": "msg_1", "phase": "commentary"},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_2"},
        ]
    },
    "anthropic": {
        "skeleton": [
            {"type": "thinking", "thinking": "Two cities: two calls.", "signature": "EqQBCgIYAh"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3"},
            {"type": "text"},
            {"type": "tool_use", "id": "call_1"},
            {"type": "tool_use", "id": "call_2"},
        ]
    },
}


def _long_history(weather_spec: ToolSpec) -> ModelRequest:
    question = UserMessage(
        content=(
            TextPart(text="What's the weather in Paris and Rome? Here is Paris:"),
            ImagePart(url="https://example.com/paris.jpg", detail="low"),
        )
    )
    turn_1: list[tuple[Payload, ItemStatus]] = [
        (question, "completed"),
        (Reasoning(text="Two cities: two calls.", data=REASONING_DATA), "completed"),
        (AgentMessage(text="Let me check both."), "completed"),
        (
            ToolCall(tool_call_id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
            "completed",
        ),
        (
            ToolCall(tool_call_id="call_2", name="get_weather", arguments='{"city": "Rome"}'),
            "completed",
        ),
        (
            ToolResult(tool_call_id="call_1", name="get_weather", output='{"temp_c": 18}'),
            "completed",
        ),
        (
            ToolResult(
                tool_call_id="call_2",
                name="get_weather",
                output="ToolError: the weather service is down",
                outcome="error",
            ),
            "failed",
        ),
        (AgentMessage(text="Paris: 18°C. Rome: unavailable."), "completed"),
    ]
    turn_2: list[tuple[Payload, ItemStatus]] = [
        (
            UserMessage(
                content=(
                    TextPart(text="Thanks! And this one?"),
                    ImagePart(url="data:image/png;base64,iVBORw0KGgo="),
                )
            ),
            "completed",
        ),
        (SystemEvent(phase="interrupt", message="the user interrupted"), "completed"),
        (AgentMessage(text="Half an ans"), "cancelled"),
        (ErrorPayload(code="model_error", message="the stream broke"), "completed"),
    ]
    items = [
        Item(
            item_id=f"item_{seq}",
            thread_id="thread_1",
            turn_id=turn,
            seq=seq,
            status=status,
            payload=payload,
            created_at=1_700_000_000.0 + seq,
        )
        for seq, (turn, (payload, status)) in enumerate(
            [*(("turn_1", entry) for entry in turn_1), *(("turn_2", entry) for entry in turn_2)],
            start=1,
        )
    ]
    return ModelRequest(instructions="Be brief.", items=items, tools=[weather_spec])


MakeReasoning = Callable[[str, dict[str, Any]], Reasoning]


@pytest.fixture
def make_reasoning() -> MakeReasoning:
    """`make_reasoning(text, data)`: a `Reasoning` that carries provider state."""
    return lambda text, data: Reasoning(text=text, data=data)


@pytest.fixture
def long_history(weather_spec: ToolSpec) -> ModelRequest:
    """A tool-calling history: a question with an image; a step with reasoning (carrying
    both providers' state), text and two calls; their results, one failed; an answer; a
    second question with a data-URL image; and items a model must not read."""
    return _long_history(weather_spec)
