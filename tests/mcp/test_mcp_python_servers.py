"""Agents use the tools of real MCP servers from PyPI, run over stdio: `mcp-server-time` and
`mcp-server-git` (on a repository the test makes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from threadline.testing import MemoryChat, ScriptedModel, check_invariants, tool_call
from threadline.types import ToolResult

pytestmark = pytest.mark.slow


def _results(items: list[tl.Item]) -> list[ToolResult]:
    return [i.payload for i in items if isinstance(i.payload, ToolResult)]


async def test_the_time_servers_tools_reach_the_model_with_their_schemas_and_run() -> None:
    server = tl.MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"])
    assert server.name == "mcp_server_time"
    model = ScriptedModel(
        [
            tool_call("get_current_time", {}),  # invalid: never sent to the server
            tool_call("get_current_time", {"timezone": "Europe/Paris"}),
            "It is evening in Paris.",
        ]
    )
    agent = tl.Agent(name="clock", tools=[server])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        result = await thread.run("What time is it in Paris?")
        tools = {t.name: t for t in await server.list_tools()}
        assert await check_invariants(app.store) == []

    assert result.text == "It is evening in Paris."
    shown = {spec.name: spec for spec in model.requests[0].tools}
    assert set(shown) == {"get_current_time", "convert_time"}
    assert shown["get_current_time"].parameters["required"] == ["timezone"]
    assert "IANA" in shown["get_current_time"].parameters["properties"]["timezone"]["description"]
    assert shown["get_current_time"].description
    invalid, answered = _results(result.items)
    assert invalid.outcome == "error"
    assert "timezone" in invalid.output and "required" in invalid.output
    assert answered.outcome == "success"
    assert json.loads(answered.output)["timezone"] == "Europe/Paris"
    # The server marks both tools read-only: they may run again after a crash.
    assert tools["get_current_time"].idempotent and tools["convert_time"].idempotent


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


async def test_the_git_server_commits_only_after_a_human_approves(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "README.md").write_text("hello\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "First")
    (repo / "notes.txt").write_text("remember the milk\n")

    server = tl.MCPServer.stdio(
        sys.executable,
        ["-m", "mcp_server_git", "--repository", str(repo)],
        name="git",
        allowed_tools={"git_status", "git_add", "git_commit", "git_log"},
        needs_approval={"git_commit"},
    )
    path = str(repo)
    model = ScriptedModel(
        [
            tool_call("git_status", {"repo_path": path}),
            tool_call("git_add", {"repo_path": path, "files": ["notes.txt"]}),
            tool_call("git_commit", {"repo_path": path, "message": "Add notes"}),
            "Committed the notes.",
        ]
    )
    agent = tl.Agent(name="coder", tools=[server])
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        thread = await app.threads.start()
        paused = await thread.run("Commit my notes")
        assert paused.status == "paused"
        (request,) = paused.pending_approvals
        assert request.name == "git_commit"
        assert "Add notes" not in _git(repo, "log", "--oneline")  # nothing ran yet
        await thread.approve(request.tool_call_id)
        result = await thread.resume_turn()
        items = await thread.items()
        tools = {t.name: t for t in await server.list_tools()}

    assert result.text == "Committed the notes."
    assert {spec.name for spec in model.requests[0].tools} == {
        "git_status",
        "git_add",
        "git_commit",
        "git_log",
    }
    status, added, committed = _results(items)
    assert "notes.txt" in status.output and status.outcome == "success"
    assert added.outcome == "success" and committed.outcome == "success"
    assert _git(repo, "log", "--format=%s").splitlines() == ["Add notes", "First"]
    # What a repeat means comes from the server's annotations.
    assert tools["git_status"].idempotent and not tools["git_commit"].idempotent


async def test_a_caller_may_require_approval_of_a_servers_tool_by_its_listed_name() -> None:
    """`require_approval` names a tool an MCP server lists as the model sees it; a name that
    no tool has, or one that a server which cannot list its tools now cannot confirm, is
    refused before anything is stored."""
    server = tl.MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"])
    down = tl.MCPServer.stdio(sys.executable, ["-c", "raise SystemExit(3)"], name="down")
    model = ScriptedModel([tool_call("get_current_time", {"timezone": "Europe/Paris"}), "Done."])
    agents = [tl.Agent(name="clock", tools=[server]), tl.Agent(name="broken", tools=[down])]
    async with tl.Threadline(agents=agents, model=model, store=":memory:") as app:
        thread = await app.threads.start(agent="clock")
        with pytest.raises(tl.InvalidInputError, match="get_curent_time"):
            await thread.run("What time is it?", require_approval={"get_curent_time"})
        paused = await thread.run("What time is it?", require_approval={"get_current_time"})
        (request,) = paused.pending_approvals
        await thread.approve(request.tool_call_id)
        done = await thread.resume_turn()
        broken = await app.threads.start(agent="broken")
        with pytest.raises(tl.InvalidInputError, match="get_current_time"):
            await broken.run("What time is it?", require_approval={"get_current_time"})
        refused_turns = await thread.turns(), await broken.turns()

    assert paused.status == "paused"
    assert request.name == "get_current_time"
    assert done.text == "Done."
    assert [len(turns) for turns in refused_turns] == [1, 0]


async def test_a_definition_chooses_a_servers_tools_step_by_step() -> None:
    """A thread definition's actions may choose an MCP server: its tools are offered at the
    steps where the context chooses it, beside the definition's own."""
    clock = tl.MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"], name="clock")

    @tl.tool
    async def go_abroad(thread: tl.ThreadState[Any]) -> str:
        """Travel."""
        thread.set_state({"abroad": True})
        return "landed"

    definition = (
        tl.define("traveller.mcp")
        .context(lambda stored, env: stored or {"abroad": False})
        .narrative("Help the traveller.")
        .actions(lambda ctx: [clock] if ctx["abroad"] else [go_abroad])
        .build()
    )
    model = ScriptedModel(
        [
            tool_call("go_abroad", {}),
            tool_call("get_current_time", {"timezone": "Asia/Tokyo"}),
            "It is late in Tokyo.",
        ]
    )
    async with tl.Threadline(agents=[tl.Agent(name="other")], model=model, store=":memory:") as app:
        result = await definition.react("Fly me to Tokyo", app=app, key="trip")

    assert result.text == "It is late in Tokyo."
    assert [sorted(t.name for t in r.tools) for r in model.requests] == [
        ["go_abroad"],
        ["convert_time", "get_current_time"],
        ["convert_time", "get_current_time"],
    ]
    landed, told = _results(result.items)
    assert (landed.output, told.outcome) == ("landed", "success")
    assert json.loads(told.output)["timezone"] == "Asia/Tokyo"


async def test_a_bot_offers_the_mcp_servers_of_its_agent() -> None:
    clock = tl.MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"], name="clock")
    model = ScriptedModel(
        [tool_call("get_current_time", {"timezone": "Europe/Paris"}), "It is time."]
    )
    agent = tl.Agent(name="helper", tools=[clock])
    chat = MemoryChat()
    async with tl.Threadline(agents=[agent], model=model, store=":memory:") as app:
        bot = tl.Bot(app, [chat])

        @bot.on_mention
        async def mention(ctx: tl.bots.Context) -> None:
            await ctx.thread.run_agent()

        async with bot:
            await chat.say("ann", "what time is it?", mention=True)

    assert chat.last().text == "It is time."
    assert sorted(t.name for t in model.requests[0].tools) == ["convert_time", "get_current_time"]
