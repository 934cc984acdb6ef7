"""`threadline app-server`: the Codex app-server v2 protocol on stdin/stdout."""

from __future__ import annotations

import asyncio

import click

from ._session import stdio_app
from ._settings import Settings, pass_settings


@click.command("app-server")
@click.argument("app_name", required=False, metavar="[APP]")
@click.option(
    "--listen",
    default="stdio://",
    show_default=True,
    metavar="URL",
    help="Where to serve; only stdio:// here (WebSocket: `threadline serve`).",
)
@pass_settings
def app_server(settings: Settings, app_name: str | None, listen: str) -> None:
    """Serve the Codex app-server protocol (JSON-RPC, one message per line) on stdio.

    APP names the agents to serve as package.module:attribute (default: the global --app,
    else the demo assistant); they are offered as the protocol's models. Clients written
    for `codex app-server`, such as the official Codex SDKs, drive threadline threads:
    tools appear as mcpToolCall items and approvals as requests to the client. Logs go to
    stderr; stdout carries only protocol messages.
    """
    if listen != "stdio://":
        raise click.UsageError(
            "only --listen stdio:// is served by app-server; for "
            "WebSocket clients run `threadline serve`"
        )
    from threadline.server.codex import serve_stdio

    asyncio.run(serve_stdio(stdio_app(settings, app_name)))
