"""`threadline app-server`: the Codex app-server v2 protocol on stdin/stdout."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import click

from threadline import Threadline

from ._app_spec import load_agents
from ._model_spec import load_model
from ._settings import Settings

_RECOVERY_SECONDS = 5.0


@click.command("app-server")
@click.argument("app_spec", required=False, metavar="[APP]")
@click.option(
    "--db", metavar="PATH", help="The SQLite database of the threads (default: the global --db)."
)
@click.option(
    "--model",
    "model_spec",
    metavar="SPEC",
    help="The model of agents that name none (default: the global --model).",
)
@click.option(
    "--listen",
    default="stdio://",
    show_default=True,
    metavar="URL",
    help="Where to serve; only stdio:// here (WebSocket: `threadline serve`).",
)
@click.pass_obj
def app_server(
    settings: Settings, app_spec: str | None, db: str | None, model_spec: str | None, listen: str
) -> None:
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
    settings = replace(
        settings,
        db=db or settings.db,
        model_spec=model_spec or settings.model_spec,
        app_spec=app_spec or settings.app_spec,
    )
    from threadline.server.codex import serve_stdio

    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    app = Threadline(
        agents=load_agents(settings.app_spec),
        store=settings.db,
        model=load_model(settings.model_spec),
        recovery_interval=_RECOVERY_SECONDS,
    )
    asyncio.run(serve_stdio(app))
