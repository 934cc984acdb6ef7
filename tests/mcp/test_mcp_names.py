"""What the model calls an MCP server's tools, and the configuration an `MCPServer` refuses:
no server is started here."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest

import threadline as tl
from threadline.tools import ToolSource, source_tools, tool_name


class _Listed(ToolSource):
    def __init__(self, name: str, tools: Sequence[tl.Tool]) -> None:
        self.name = name
        self._tools = list(tools)

    async def list_tools(self) -> list[tl.Tool]:
        return self._tools


def _tool(name: str) -> tl.Tool:
    def run() -> str:
        return name

    return tl.Tool(run, name=name)


def test_names_the_model_cannot_take_are_made_valid_and_kept_apart() -> None:
    assert tool_name("get-sum") == "get-sum"
    assert tool_name("files.read/v2") == "files_read_v2"
    assert tool_name("2fa") == "_2fa"
    long_a, long_b = "x" * 70 + "a", "x" * 70 + "b"
    assert len(tool_name(long_a)) == 64 and tool_name(long_a) != tool_name(long_b)


def test_a_colliding_name_is_prefixed_with_the_servers_name() -> None:
    own = {"search": _tool("search")}
    docs = _Listed("docs", [_tool("search"), _tool("read"), _tool("status")])
    git = _Listed("git", [_tool("status"), _tool("log")])
    table = source_tools(own, [(docs, docs._tools), (git, git._tools)])
    assert sorted(table) == ["docs_search", "docs_status", "git_status", "log", "read"]
    assert table["docs_search"].name == "docs_search"
    assert docs._tools[0].name == "search"  # the source's own tool is left as it was
    # Even the prefixed name may be taken: then it is numbered, within 64 characters.
    crowded = {"docs_read": _tool("docs_read"), "read": _tool("read")}
    assert sorted(source_tools(crowded, [(docs, docs._tools[1:2])])) == ["docs_read_2"]
    long_server = _Listed("s" * 48, [_tool("t" * 30)])
    (name,) = source_tools({"t" * 30: _tool("t" * 30)}, [(long_server, long_server._tools)])
    assert len(name) == 64


def test_default_names_come_from_the_command_or_the_host() -> None:
    assert tl.MCPServer.stdio(sys.executable, ["-m", "mcp_server_time"]).name == "mcp_server_time"
    npx = tl.MCPServer.stdio("npx", ["-y", "@modelcontextprotocol/server-everything"])
    assert npx.name == "server-everything"
    node = tl.MCPServer.stdio("node", ["/opt/server-everything/dist/index.js", "stdio"])
    assert node.name == "server-everything"
    assert tl.MCPServer.stdio("/usr/local/bin/mcp-server-git").name == "mcp-server-git"
    assert tl.MCPServer.http("https://mcp.example.com/mcp").name == "mcp_example_com"
    assert tl.MCPServer.http("http://127.0.0.1:3001/mcp").name == "mcp_127_0_0_1"


def test_headers_are_shown_nowhere() -> None:
    server = tl.MCPServer.http(
        "https://mcp.example.com/mcp", headers={"Authorization": "Bearer sk-do-not-show"}
    )
    assert "sk-do-not-show" not in repr(server) + repr(server.transport)
    stdio = tl.MCPServer.stdio(
        "server", ["--token", "sk-do-not-show"], env={"KEY": "sk-do-not-show"}
    )
    assert "sk-do-not-show" not in repr(stdio) + repr(stdio.transport)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: tl.MCPServer.stdio(""), "command"),
        (lambda: tl.MCPServer.stdio("server", "--flag"), "args"),
        (lambda: tl.MCPServer.stdio("server", env={"A": 1}), "env"),
        (lambda: tl.MCPServer.http("ftp://example.com"), "URL"),
        (lambda: tl.MCPServer.http("http://h/mcp", transport="websocket"), "transport"),
        (lambda: tl.MCPServer.http("http://h/mcp", headers={"A": None}), "headers"),
        (lambda: tl.MCPServer.stdio("server", name="has space"), "name"),
        (lambda: tl.MCPServer.stdio("server", allowed_tools="echo"), "allowed_tools"),
        (lambda: tl.MCPServer.stdio("server", needs_approval={"echo": "yes"}), "needs_approval"),
        (lambda: tl.MCPServer.stdio("server", idempotent="yes"), "idempotent"),
        (lambda: tl.MCPServer.stdio("server", timeout=0), "timeout"),
    ],
)
def test_bad_configuration_is_refused(build: object, message: str) -> None:
    with pytest.raises(tl.ConfigurationError, match=message):
        build()  # type: ignore[operator]


def test_an_agent_refuses_two_servers_of_one_name() -> None:
    first = tl.MCPServer.stdio("server-a", name="tools")
    second = tl.MCPServer.stdio("server-b", name="tools")
    with pytest.raises(tl.ConfigurationError, match="two tool sources named 'tools'"):
        tl.Agent(name="a", tools=[first, second])
    agent = tl.Agent(name="a", tools=[first, first], modes={"plan": tl.Mode(tools=[second])})
    assert agent.resolve_mode(None).sources == (first,)
    assert agent.resolve_mode("plan").sources == (second,)
