"""An agent uses `@modelcontextprotocol/server-everything` from npm, the MCP reference server
for clients: over stdio (tools whose names collide with the agent's own, prompts, resources
attached as files) and over HTTP (streamable HTTP across a restart of the server, and the
older SSE transport found on its own)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest
from mcp_servers import free_port, wait_for_port

import threadline as tl
from threadline.testing import ScriptedModel, check_invariants, tool_call, tool_calls
from threadline.types import ToolResult

pytestmark = pytest.mark.slow

Start = Callable[[str, int], subprocess.Popen[bytes]]


def _outputs(items: list[tl.Item]) -> list[tuple[str, str, str]]:
    return [
        (i.payload.name, i.payload.outcome, i.payload.output)
        for i in items
        if isinstance(i.payload, ToolResult)
    ]


async def test_stdio_tools_prompts_and_resources(everything: tuple[str, str]) -> None:
    node, script = everything

    @tl.tool
    async def echo(message: str) -> str:
        """Echo locally."""
        return f"local: {message}"

    allowed = {"echo", "get-sum", "get-tiny-image", "get-structured-content"}
    server = tl.MCPServer.stdio(node, [script], allowed_tools=allowed)
    assert server.name == "server-everything"
    model = ScriptedModel(
        [
            tool_calls(
                ("echo", {"message": "hi"}),
                ("server-everything_echo", {"message": "hi"}),
                ("get-sum", {"a": 2, "b": 3}),
                ("get-tiny-image", {}),
                ("get-structured-content", {"location": "New York"}),
            ),
            "Done.",
        ]
    )
    agent = tl.Agent(name="assistant", tools=[echo, server])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        result = await thread.run("Try the tools")

        # The agent's own tool keeps its name; the server's is prefixed with the server's.
        assert sorted(spec.name for spec in model.requests[0].tools) == [
            "echo",
            "get-structured-content",
            "get-sum",
            "get-tiny-image",
            "server-everything_echo",
        ]
        outputs = _outputs(result.items)
        assert outputs[:3] == [
            ("echo", "success", "local: hi"),
            ("server-everything_echo", "success", "Echo: hi"),
            ("get-sum", "success", "The sum of 2 and 3 is 5."),
        ]
        # An image is named to the model; structured content without text is shown as JSON.
        assert "[image: image/png, " in outputs[3][2]
        assert set(json.loads(outputs[4][2])) == {"temperature", "conditions", "humidity"}

        # Prompts, rendered with their arguments.
        assert "args-prompt" in [p.name for p in await server.list_prompts()]
        assert await server.load_prompt("args-prompt", city="Paris") == "What's weather in Paris?"
        with pytest.raises(tl.NotFoundError, match="simple-prompt"):
            await server.load_prompt("no-such-prompt")
        with pytest.raises(tl.InvalidInputError, match="city"):
            await server.load_prompt("args-prompt")

        # A resource becomes a file of the thread, which an input may attach.
        uri = "demo://resource/static/document/architecture.md"
        assert uri in [str(r.uri) for r in await server.list_resources()]
        info = await server.attach_resource(thread, uri)
        assert info.path == "mcp/server-everything/architecture.md"
        assert (await thread.read_file(info.path)).startswith(b"# Everything Server")
        with pytest.raises(tl.NotFoundError):
            await server.read_resource("demo://resource/static/document/no-such-file.md")
        assert await check_invariants(app.store) == []


async def test_streamable_http_across_a_restart_of_the_server(start_everything: Start) -> None:
    port, process = await _started(start_everything, "streamableHttp")
    server = tl.MCPServer.http(f"http://127.0.0.1:{port}/mcp", name="everything")
    model = ScriptedModel(
        [
            tool_call("get-sum", {"a": 1, "b": 2}),
            "3.",
            tool_call("get-sum", {"a": 2, "b": 2}),
            "The server is down.",
            tool_call("get-sum", {"a": 3, "b": 4}),
            "7.",
        ]
    )
    agent = tl.Agent(name="assistant", tools=[server])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        first = await thread.run("1 + 2?")
        assert _outputs(first.items) == [("get-sum", "success", "The sum of 1 and 2 is 3.")]

        process.kill()
        process.wait(timeout=30)
        down = await thread.run("2 + 2?")  # an error result the model reads; the turn goes on
        assert down.status == "completed" and down.text == "The server is down."
        ((name, outcome, output),) = _outputs(down.items)
        assert name == "get-sum" and outcome in ("error", "unknown")
        assert "MCP server 'everything'" in output and "unavailable" in output

        await _started(start_everything, "streamableHttp", port)
        again = await thread.run("3 + 4?")  # a new session with the restarted server
        assert _outputs(again.items) == [("get-sum", "success", "The sum of 3 and 4 is 7.")]


async def test_auto_finds_a_server_that_only_speaks_sse(start_everything: Start) -> None:
    port, _ = await _started(start_everything, "sse")
    server = tl.MCPServer.http(f"http://127.0.0.1:{port}/sse")  # streamable HTTP first: refused
    model = ScriptedModel([tool_call("echo", {"message": "over SSE"}), "Done."])
    agent = tl.Agent(name="assistant", tools=[server])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        result = await thread.run("Echo")
    assert _outputs(result.items) == [("echo", "success", "Echo: over SSE")]


async def _started(
    start: Start, mode: str, port: int | None = None
) -> tuple[int, subprocess.Popen[bytes]]:
    port = port or free_port()
    process = start(mode, port)
    await wait_for_port(port, process)
    return port, process
