"""One threadline app uses another as an MCP server: the first's agents are tools of the
second's agent (over `/mcp`, with the first's API key), and a call that names the thread
an earlier call returned continues that thread on the first app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from mcp_harness import KEY, OTHER_KEY, mcp_server, mcp_url
from responses_harness import RunningServer

import threadline as tl
from threadline.models import ModelEvent, ModelRequest, ModelResponse, ToolCallRequest
from threadline.types import ToolResult, UserMessage

__all__ = ["mcp_server"]  # the module's server fixture

pytestmark = pytest.mark.slow
THREAD_ID = re.compile(r"thr_[0-9a-z]+")


class FrontModel:
    """Asks the remote `assistant` the user's message (`in THREAD: text` names a remote
    thread); else names the remote thread an earlier answer gave, so that the conversation
    there goes on; then reports what it said."""

    name = "front"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelEvent]:
        payloads = [i.payload for i in request.items]
        last_user = max(n for n, p in enumerate(payloads) if isinstance(p, UserMessage))
        after = [p for p in payloads[last_user + 1 :] if isinstance(p, ToolResult)]
        if after:
            yield ModelResponse(text=f"remote: {after[-1].output}")
            return
        text = request.items[last_user].text
        earlier = [p.output for p in payloads[:last_user] if isinstance(p, ToolResult)]
        arguments = {"input": text}
        if named := re.fullmatch(r"in (thr_\w+): (.*)", text):  # a thread the user names
            arguments = {"input": named.group(2), "thread_id": named.group(1)}
        elif earlier and (found := THREAD_ID.search(earlier[-1])):
            arguments["thread_id"] = found.group(0)
        call = ToolCallRequest(
            tool_call_id=f"call_{last_user}",
            name="assistant",
            arguments=orjson.dumps(arguments).decode(),
        )
        yield ModelResponse(tool_calls=(call,), finish_reason="tool_calls")


def front_app(server: RunningServer, key: str, store: Path) -> tl.Threadline:
    remote = tl.MCPServer.http(
        mcp_url(server), headers={"Authorization": f"Bearer {key}"}, name="remote"
    )
    agent = tl.Agent(name="front", model=FrontModel(), tools=[remote])
    return tl.Threadline(agents=[agent], store=store)


async def test_a_threadline_agent_calls_another_apps_agent_and_continues_its_thread(
    mcp_server: RunningServer, tmp_path: Path
) -> None:
    async with front_app(mcp_server, KEY, tmp_path / "front.db") as app:
        thread = await app.threads.start()
        first = await thread.run("weather Paris")
        second = await thread.run("say still sunny")

    assert first.status == "completed" and second.status == "completed"
    assert "get_weather returned" in first.text and "Paris" in first.text
    assert "still sunny" in second.text
    remote_threads = {m.group(0) for m in THREAD_ID.finditer(first.text + second.text)}
    assert len(remote_threads) == 1  # the second call went on in the first one's thread

    # Another key's client names that thread: the first app answers as for an unknown one.
    (remote_thread,) = remote_threads
    async with front_app(mcp_server, OTHER_KEY, tmp_path / "other.db") as other:
        outsider = await other.threads.start()
        result = await outsider.run(f"in {remote_thread}: say hi")
        unknown = await outsider.run("in thr_01unknown000000000000000000: say hi")
    assert result.status == "completed"
    assert f"no thread {remote_thread!r}" in result.text
    assert result.text.replace(remote_thread, "X") == unknown.text.replace(
        "thr_01unknown000000000000000000", "X"
    )
