"""MCP clients (the official `mcp` SDK's) pointed at a real server on 127.0.0.1 that serves
the agents of `apps` at `/mcp`: `assistant` (tools `get_weather`, and `transfer`, which needs
approval) and `other`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.client.session import ClientSession, ElicitationFnT
from mcp.client.streamable_http import streamable_http_client
from responses_harness import API_KEYS, RunningServer, start_server, stop_server

KEY, OTHER_KEY = API_KEYS
# What a server of the agents of `apps` lists, sorted: the agents and the server's own tools.
TOOLS = ["answer_approval", "answer_input", "assistant", "list_threads", "other", "read_thread"]


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with API keys, of its own, for one test module."""
    running, handle = start_server(
        Path(tmp_path_factory.mktemp("mcp")) / "threadline.db", api_keys=API_KEYS
    )
    yield running
    stop_server(handle)


def mcp_url(server: RunningServer) -> str:
    return f"{server.origin}/mcp"


def _http(key: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))


@contextlib.asynccontextmanager
async def mcp_session(
    server: RunningServer, *, key: str | None = KEY, elicitation: ElicitationFnT | None = None
) -> AsyncGenerator[ClientSession]:
    """A session of the initialize handshake (protocol 2025-11-25), which carries the
    server's requests to the client (elicitation) on the call's own stream."""
    async with (
        _http(key) as http,
        streamable_http_client(mcp_url(server), http_client=http) as (read, write),
        ClientSession(read, write, elicitation_callback=elicitation) as session,
    ):
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def mcp_client(
    server: RunningServer, *, key: str | None = KEY, elicitation: ElicitationFnT | None = None
) -> AsyncGenerator[Client]:
    """The SDK's high-level client, which speaks the 2026-07-28 protocol to this server."""
    async with (
        _http(key) as http,
        Client(
            streamable_http_client(mcp_url(server), http_client=http),
            elicitation_callback=elicitation,
        ) as client,
    ):
        yield client


def answering(*actions: str, reason: str | None = None) -> tuple[ElicitationFnT, list[str]]:
    """An elicitation callback that answers with `actions` in turn; and the messages it was
    asked."""
    asked: list[str] = []
    queue = list(actions)

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        asked.append(params.message)
        action = queue.pop(0)
        content = {"reason": reason} if action == "accept" and reason is not None else None
        return types.ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return elicit, asked


def structured(result: types.CallToolResult) -> dict[str, Any]:
    assert isinstance(result.structured_content, dict), result
    return result.structured_content


def text(result: types.CallToolResult) -> str:
    first = result.content[0]
    assert isinstance(first, types.TextContent)
    return first.text
