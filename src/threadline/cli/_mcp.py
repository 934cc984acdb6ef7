"""`threadline mcp`: the agents as MCP tools, on stdin/stdout."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import click

from ._session import app_model, build_app
from ._settings import Settings, pass_settings

_RECOVERY_SECONDS = 5.0


@click.command("mcp")
@click.argument("app_name", required=False, metavar="[APP]")
@pass_settings
def mcp(settings: Settings, app_name: str | None) -> None:
    """Serve the agents as MCP tools over stdio, for an MCP client that starts this command.

    APP names the agents to serve as package.module:attribute (default: the global --app,
    else the demo assistant). Each agent is a tool taking `input` (and `thread_id` to
    continue a thread) that runs one turn and returns the answer with the thread's id;
    `list_threads`, `read_thread` and `answer_approval` are tools too. Over HTTP, `threadline
    serve` offers the same tools at http://HOST:PORT/mcp. Logs go to stderr; stdout carries
    only protocol messages.
    """
    settings = replace(settings, app_spec=app_name or settings.app_spec)
    from threadline.server.mcp import serve_mcp_stdio

    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    app = build_app(settings, recovery_interval=_RECOVERY_SECONDS)
    app_model(app)
    asyncio.run(serve_mcp_stdio(app))
