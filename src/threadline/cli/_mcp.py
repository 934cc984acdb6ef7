"""`threadline mcp`: the agents as MCP tools, on stdin/stdout."""

from __future__ import annotations

import asyncio

import click

from ._session import stdio_app
from ._settings import Settings, pass_settings


@click.command("mcp")
@click.argument("app_name", required=False, metavar="[APP]")
@pass_settings
def mcp(settings: Settings, app_name: str | None) -> None:
    """Serve the agents as MCP tools over stdio, for an MCP client that starts this command.

    APP names the agents to serve as package.module:attribute (default: the global --app,
    else the demo assistant). Each agent is a tool taking `input` (and `thread_id` to
    continue a thread) that runs one turn and returns the answer with the thread's id;
    `list_threads`, `read_thread`, `answer_approval` and `answer_input` are tools too. Over
    HTTP, `threadline serve` offers the same tools at http://HOST:PORT/mcp. Logs go to
    stderr; stdout carries only protocol messages.
    """
    from threadline.server.mcp import serve_mcp_stdio

    asyncio.run(serve_mcp_stdio(stdio_app(settings, app_name)))
