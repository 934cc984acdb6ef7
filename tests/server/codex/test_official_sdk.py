"""The official Codex Python SDK (`openai-codex`) drives `threadline app-server` as if it
were `codex app-server`: it launches it, validates every response with its own models, and
answers approval requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from codex_harness import server_command, server_env
from openai_codex import Codex, CodexConfig
from openai_codex.client import CodexClient
from openai_codex.generated.v2_all import (
    AgentMessageDeltaNotification,
    McpToolCallThreadItem,
    TurnCompletedNotification,
    TurnStatus,
)


@pytest.fixture
def config(db_path: Path, tmp_path: Path) -> CodexConfig:
    return CodexConfig(
        launch_args_override=tuple(server_command(db_path)), cwd=str(tmp_path), env=server_env()
    )


@contextmanager
def pipes_closed(client: CodexClient) -> Iterator[None]:
    """The SDK closes the server's stdin but leaves its stdout and stderr pipes open (a
    ResourceWarning); close them once the client is closed (enter this first)."""
    process = client._proc  # pyright: ignore[reportPrivateUsage]
    try:
        yield
    finally:
        if process is not None:
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()


@pytest.fixture
def codex(config: CodexConfig) -> Iterator[Codex]:
    codex = Codex(config)
    with pipes_closed(codex._client), codex:  # pyright: ignore[reportPrivateUsage]
        yield codex


def test_the_sdk_runs_a_turn_and_reads_the_thread(codex: Codex) -> None:
    assert codex.metadata.serverInfo is not None
    assert codex.metadata.serverInfo.name == "threadline"
    assert [m.id for m in codex.models().data] == ["assistant"]

    thread = codex.thread_start()
    result = thread.run("hello there")

    assert result.status == TurnStatus.completed
    assert result.final_response == "You said: hello there"
    read = thread.read(include_turns=True).thread
    assert read.preview == "hello there"
    assert [t.status for t in read.turns] == [TurnStatus.completed]


def test_the_sdk_streams_the_text_of_a_turn(codex: Codex) -> None:
    thread = codex.thread_start()
    deltas = [
        n.payload.delta
        for n in thread.turn("hello stream").stream()
        if isinstance(n.payload, AgentMessageDeltaNotification)
    ]

    assert deltas == ["You ", "said: ", "hello ", "stream"]


def test_the_sdk_sees_a_tool_call_as_an_mcp_tool_call(codex: Codex) -> None:
    result = codex.thread_start().run("weather in Oslo")

    calls = [i.root for i in result.items if isinstance(i.root, McpToolCallThreadItem)]
    assert [(c.tool, c.arguments, c.status.value) for c in calls] == [
        ("get_weather", {"city": "Oslo"}, "completed")
    ]
    assert result.final_response == 'get_weather said: {"city":"Oslo","temp_c":18}'


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"action": "accept", "content": {}}, "transfer said: sent 5 to Ann"),
        (
            {"decision": "decline"},
            "transfer said: Error: a human denied this call: declined by "
            "the client. It was not run.",
        ),
        (  # what the SDK's default handler answers: codex declines
            {},
            "transfer said: Error: a human denied this call: declined by "
            "the client. It was not run.",
        ),
    ],
)
def test_the_sdk_answers_an_approval(
    config: CodexConfig, answer: dict[str, Any], expected: str
) -> None:
    asked: list[tuple[str, dict[str, Any] | None]] = []

    def handler(method: str, params: dict[str, Any] | None) -> dict[str, Any]:
        asked.append((method, params))
        return answer

    client = CodexClient(config, approval_handler=handler)  # type: ignore[arg-type]
    client.start()
    with pipes_closed(client), client:
        client.initialize()
        thread_id = client.thread_start({}).thread.id
        turn_id = client.turn_start(thread_id, "pay 5 to Ann").turn.id
        completed = client.wait_for_turn_completed(turn_id)
        read = client.thread_read(thread_id, include_turns=True).thread

    assert completed.turn.status == TurnStatus.completed
    [(method, params)] = asked
    assert method == "mcpServer/elicitation/request"
    assert params is not None
    assert params["_meta"]["codex_approval_kind"] == "mcp_tool_call"
    assert params["_meta"]["tool_params"] == {"to": "Ann", "amount": 5}
    messages = [i.root.text for t in read.turns for i in t.items if i.root.type == "agentMessage"]  # type: ignore[union-attr]
    assert messages == [expected]


def test_the_quick_start_with_the_default_approval_handler_declines_and_ends(
    codex: Codex,
) -> None:
    result = codex.thread_start().run("pay 5 to Ann")

    assert result.status == TurnStatus.completed
    assert result.final_response == (
        "transfer said: Error: a human denied this call: declined by the client. It was not run."
    )


def test_the_sdk_interrupts_a_long_turn(codex: Codex) -> None:
    thread = codex.thread_start()
    handle = thread.turn("say it slowly")
    deltas = 0
    completed: TurnCompletedNotification | None = None
    for notification in handle.stream():
        if isinstance(notification.payload, AgentMessageDeltaNotification):
            deltas += 1
            if deltas == 3:
                handle.interrupt()
        if isinstance(notification.payload, TurnCompletedNotification):
            completed = notification.payload

    assert completed is not None
    assert completed.turn.status == TurnStatus.interrupted
    assert 3 <= deltas < 60
