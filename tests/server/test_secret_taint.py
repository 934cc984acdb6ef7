"""The taint test: a secret with a random value, read by tools that echo it in their results,
raise it in a `ToolError` and in a plain exception, and emitted by a model that learned it, in
a tool call's arguments, in its reasoning and in its streamed text, split across deltas (and in
its errors). Then every byte of the database (and its -wal/-shm), the whole event stream (live
and stored), what the HTTP server answers (Responses and Conversations, through the `openai`
SDK and raw, with SSE) and the logs at DEBUG, content included, hold the value nowhere. On
PostgreSQL, every row of every table, as text."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from cryptography.fernet import Fernet
from responses_harness import RunningServer, start_server, stop_server

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.models import (
    ModelEvent,
    ModelRequest,
    ModelResponse,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolCallRequest,
)
from threadline.types import ModelError, TextPart, ToolResult, Usage, UserMessage

MARKER = "[redacted:API_KEY]"


class LeakyModel:
    """A model that learned the secret: it says it, reasons with it and passes it to a tool,
    each time split across two deltas; `fail` and `crash` put it in its errors."""

    name = "leaky"

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        secret = self.secret
        items = list(request.items)
        last_user = max(n for n, i in enumerate(items) if isinstance(i.payload, UserMessage))
        command = items[last_user].text
        if command == "fail":
            raise ModelError(f"the provider refused the key {secret}")
        if command == "crash":
            raise RuntimeError(f"crashed holding {secret}")
        half = len(secret) // 2
        if any(isinstance(i.payload, ToolResult) for i in items[last_user + 1 :]):
            deltas = [f"Done with {secret[:half]}", f"{secret[half:]} for now."]
            for delta in deltas:
                yield TextDelta(delta=delta, raw={"provider_delta": delta})
            yield ModelResponse(text="".join(deltas), usage=Usage(input_tokens=1, output_tokens=2))
            return
        reasoning = [f"The key is {secret[:half]}", f"{secret[half:]}; use it."]
        for delta in reasoning:
            yield ReasoningDelta(delta=delta, raw={"provider_delta": delta})
        text = [f"Calling with {secret[:3]}", f"{secret[3:]} now."]
        for delta in text:
            yield TextDelta(delta=delta, raw={"provider_delta": delta})
        calls = [
            ("echo_result", "{}"),
            ("raise_tool_error", "{}"),
            ("raise_plain", "{}"),
            ("echo_argument", json.dumps({"key": secret})),
        ]
        requests: list[ToolCallRequest] = []
        for index, (name, arguments) in enumerate(calls):
            call_id = f"call_{uuid.uuid4().hex[:12]}"
            cut = arguments.find(secret) + half if secret in arguments else len(arguments)
            for n, piece in enumerate((arguments[:cut], arguments[cut:])):
                if piece or n == 0:
                    yield ToolCallDelta(
                        index=index,
                        tool_call_id=call_id if n == 0 else None,
                        name=name if n == 0 else None,
                        arguments_delta=piece,
                        raw={"provider_delta": piece},
                    )
            requests.append(ToolCallRequest(tool_call_id=call_id, name=name, arguments=arguments))
        yield ModelResponse(
            text="".join(text),
            reasoning="".join(reasoning),
            tool_calls=tuple(requests),
            usage=Usage(input_tokens=1, output_tokens=4),
        )


@tl.tool
async def echo_result(thread: tl.ThreadState) -> str:
    """Returns the secret, and keeps it in the thread's state."""
    value = await thread.env("API_KEY")
    thread.set_state({"last_key": value})
    return f"the key is {value}"


@tl.tool
async def raise_tool_error(thread: tl.ThreadState) -> str:
    """Raises a ToolError holding the secret."""
    raise tl.ToolError(f"the key {await thread.env('API_KEY')} was refused")


@tl.tool
async def raise_plain(thread: tl.ThreadState) -> str:
    """Raises a plain exception holding the secret."""
    raise RuntimeError(f"plain failure with {await thread.env('API_KEY')}")


@tl.tool
async def echo_argument(key: str) -> str:
    """Returns its argument."""
    return f"got {key}"


def leaky_agent(secret: str) -> tl.Agent:
    return tl.Agent(
        name="assistant",
        model=LeakyModel(secret),
        tools=[echo_result, raise_tool_error, raise_plain, echo_argument],
    )


def forms(secret: str) -> list[bytes]:
    """The value as bytes, and as its base64 would show if it were stored encoded, not
    encrypted."""
    raw = secret.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.urlsafe_b64encode(raw),
        base64.b64encode(b"API_KEY\n" + raw),
        base64.urlsafe_b64encode(b"API_KEY\n" + raw),
    ]


def assert_clean(what: str, data: bytes | str, secret: str) -> None:
    blob = data.encode() if isinstance(data, str) else data
    for form in forms(secret):
        assert form not in blob, f"the secret leaked into {what}"
    # Either half of the value, anywhere, is a leak too (a secret cut in two, shown in part).
    half = len(secret) // 2
    for part in (secret[:half], secret[half:]):
        assert part.encode() not in blob, f"part of the secret is in {what}"


@pytest.fixture
def content_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG, content included (messages and tracebacks)."""
    content = logging.getLogger("threadline.content")
    level = content.level
    content.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        yield caplog
    finally:
        content.setLevel(level)


def _everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join([caplog.text, *(formatter.format(r) for r in caplog.records)])


async def _in_process(app: tl.Threadline, secret: str) -> tuple[str, str, list[str]]:
    """Turns run here, watched by a live subscription: the thread id, the events it saw and
    the errors raised."""
    thread = await app.threads.start()
    await thread.set_env("API_KEY", secret)
    subscription = thread.subscribe()
    live: list[tl.Event] = []

    async def watch() -> None:
        async for event in subscription:
            live.append(event)

    watcher = asyncio.ensure_future(watch())
    streamed: list[tl.Event] = []
    stream = thread.run_streamed(f"my key is {secret}, go")
    async for event in stream:
        streamed.append(event)
    result = stream.result
    outputs = {
        i.payload.name: i.payload.output for i in result.items if isinstance(i.payload, ToolResult)
    }
    # The paths were taken, and each carries the marker where the value was.
    assert outputs == {
        "echo_result": f"the key is {MARKER}",
        "raise_tool_error": f"Error: the key {MARKER} was refused",
        "raise_plain": "Error: tool raise_plain failed (RuntimeError).",
        "echo_argument": f"got {MARKER}",
    }
    assert result.text == f"Done with {MARKER} for now."
    assert (await thread.reload()).state == {"last_key": MARKER}
    # What streamed live is what was stored.
    stored = await thread.events()
    live_text = "".join(e.params["delta"] for e in streamed if e.type == "agent_message_delta")
    stored_text = "".join(e.params["delta"] for e in stored if e.type == "agent_message_delta")
    assert live_text == stored_text == f"Calling with {MARKER} now.Done with {MARKER} for now."
    errors: list[str] = []
    for command in ("fail", "crash"):
        with pytest.raises(tl.TurnFailedError) as raised:
            await thread.run(command)
        errors.append(f"{raised.value} {raised.value.turn!r} {raised.value.to_dict()!r}")
    assert MARKER in errors[0]
    await thread.append([UserMessage(content=(TextPart(text=f"appended {secret}"),))])
    await thread.schedule(f"remind me of {secret}", delay=3600)
    await asyncio.sleep(0.05)
    await thread.unsubscribe()
    await asyncio.wait_for(watcher, 10)
    events = [*live, *streamed, *await thread.events()]
    dumped = "\n".join(
        repr(e) + json.dumps(e.to_dict(), default=repr) + repr(e.raw) for e in events
    )
    assert MARKER in dumped
    return thread.id, dumped, errors


def _over_http(server: RunningServer, thread_id: str, secret: str) -> str:
    """A turn over the Responses API with SSE, then the thread read back every way."""
    answers: list[str] = []
    with openai.OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        stream = client.responses.create(
            model="assistant", conversation=thread_id, input="again", stream=True
        )
        response_id = ""
        for event in stream:
            answers.append(event.model_dump_json())
            if event.type == "response.created":
                response_id = event.response.id
        assert any(MARKER in a for a in answers)
        answers.append(client.responses.retrieve(response_id).model_dump_json())
        answers += [
            e.model_dump_json() for e in client.responses.retrieve(response_id, stream=True)
        ]
        answers += [
            i.model_dump_json()
            for i in client.conversations.items.list(thread_id, order="asc", limit=100)
        ]
        answers += [i.model_dump_json() for i in client.responses.input_items.list(response_id)]
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        failed = http.post(
            "/responses", json={"model": "assistant", "conversation": thread_id, "input": "fail"}
        )
        answers.append(failed.text)
        assert MARKER in failed.text
        with http.stream(
            "POST",
            "/responses",
            json={"model": "assistant", "conversation": thread_id, "input": "go", "stream": True},
        ) as sse:
            answers.append(sse.read().decode())
        answers.append(http.get(f"/responses/{response_id}").text)
        answers.append(http.get(f"/responses/{response_id}", params={"stream": "true"}).text)
        answers.append(http.get(f"/conversations/{thread_id}/items", params={"limit": 100}).text)
        answers.append(http.get(f"/conversations/{thread_id}").text)
    return "\n".join(answers)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_secret_appears_nowhere(
    backend: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content_logs: pytest.LogCaptureFixture,
) -> None:
    secret = f"~tl-{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}"
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("THREADLINE_SECRET_KEY", key)
    db = tmp_path / "taint.db"
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"

    def new_store() -> tl.Store | Path:
        return db if backend == "sqlite" else tl.PostgresStore(postgres_url(), schema=schema)

    running, handle = start_server(
        db,
        store=new_store() if backend == "postgres" else None,  # type: ignore[arg-type]
        app_agents=[leaky_agent(secret)],
    )
    try:
        async with tl.Threadline(agents=[leaky_agent(secret)], store=new_store()) as app:
            thread_id, events, errors = await _in_process(app, secret)
            served = await asyncio.to_thread(_over_http, running, thread_id, secret)
            [stored] = await app.store.get_env("API_KEY", [("thread", thread_id)])
            assert (
                Fernet(key.encode()).decrypt(stored.value.encode()) == f"API_KEY\n{secret}".encode()
            )
            rows = await _every_row(app, backend, schema)
            if backend == "sqlite":  # the files as they are while the apps run
                _assert_files_clean(tmp_path, secret)
    finally:
        stop_server(handle)
    try:
        assert_clean("the event stream", events, secret)
        assert_clean("the errors raised", "\n".join(errors), secret)
        assert_clean("the server's answers", served, secret)
        assert_clean("the stored rows", rows, secret)
        logged = _everything_logged(content_logs)
        assert_clean("the logs", logged, secret)
        # The exception a model raised was logged, with its message, redacted.
        assert f"crashed holding {MARKER}" in logged
        if backend == "sqlite":  # every byte of every file, once everything is closed
            _assert_files_clean(tmp_path, secret)
    finally:
        if backend == "postgres":
            await drop_schema(postgres_url(), schema)


def _assert_files_clean(directory: Path, secret: str) -> None:
    files = list(directory.glob("taint.db*"))
    assert files
    for path in files:
        assert_clean(path.name, path.read_bytes(), secret)


async def _every_row(app: tl.Threadline, backend: str, schema: str) -> str:
    """Every row of every table, as text."""
    if backend == "sqlite":
        return ""  # the files are read whole instead
    import psycopg

    async with await psycopg.AsyncConnection.connect(postgres_url(), autocommit=True) as conn:
        tables = await (
            await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        ).fetchall()
        assert {"env", "items", "events", "turns", "threads", "timers"} <= {t[0] for t in tables}
        dumped: list[str] = []
        for (table,) in tables:
            found = await (
                await conn.execute(f'SELECT t::text FROM "{schema}"."{table}" AS t')  # pyright: ignore
            ).fetchall()
            dumped += [row[0] for row in found]
        return "\n".join(dumped)
