"""`threadline serve`: the agents over the OpenAI Responses and Conversations HTTP API."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace

import click

from ._session import app_model, build_app
from ._settings import Settings, pass_settings

_KEYS_ENV = "THREADLINE_API_KEYS"
_SHUTDOWN_SECONDS = 5
_STARTUP_FAILURE = 3  # uvicorn's exit status when the server could not start


@click.command()
@click.argument("app_name", metavar="[APP]", required=False)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Where to listen. Anything but loopback needs an API key.",
)
@click.option(
    "--port", default=8321, show_default=True, type=click.IntRange(0, 65535), help="The TCP port."
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    metavar="KEY",
    help=f"A bearer token clients must send; repeat for several keys (or set "
    f"{_KEYS_ENV}=key1,key2). Each key sees only its own threads.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 1000),
    default=None,
    help="0: only store turns and stream their events, for `threadline worker` "
    "processes to run them (PostgreSQL). N: also run up to N stored turns here. "
    "Default: each request runs its turn in this process.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="How much the server logs (never credentials or content, unless --log-content).",
)
@click.option(
    "--log-content",
    is_flag=True,
    help="Also log content: exception messages and tracebacks of models and tools, WebSocket "
    "frames and headers. For debugging only: logs then hold messages and credentials.",
)
@click.option(
    "--refuse-client-instructions",
    is_flag=True,
    help="Answer 400 to requests that send `instructions`, rather than adding them to the "
    "agent's instructions for the turn.",
)
@click.option(
    "--open-responses",
    is_flag=True,
    help="Write the Open Responses dialect: the agent's own tools and approvals as "
    "threadline:-prefixed items instead of OpenAI's mcp_call items (which OpenAI's SDKs read).",
)
@pass_settings
def serve(
    settings: Settings,
    app_name: str | None,
    host: str,
    port: int,
    api_keys: tuple[str, ...],
    workers: int | None,
    log_level: str,
    log_content: bool,
    refuse_client_instructions: bool,
    open_responses: bool,
) -> None:
    """Serve the agents over the OpenAI Responses and Conversations API.

    APP names a Threadline app, an Agent or a list of agents as package.module:attribute
    (default: the global --app, else the demo assistant). Point any OpenAI client at
    http://HOST:PORT/v1 (the Responses WebSocket mode is at ws://HOST:PORT/v1/responses); the
    OpenAPI schema is at /openapi.json; Codex app-server clients connect to
    ws://HOST:PORT/codex, and MCP clients to http://HOST:PORT/mcp (streamable HTTP; each
    agent is a tool). Turns that a crash cut off continue when the server starts again.
    """
    import uvicorn

    from threadline.server import ServerConfig, create_app, uvicorn_config

    keys = list(api_keys) or [
        k.strip() for k in os.environ.get(_KEYS_ENV, "").split(",") if k.strip()
    ]
    config = ServerConfig(
        host=host,
        port=port,
        api_keys=keys,
        workers=workers,
        log_content=log_content,
        refuse_client_instructions=refuse_client_instructions,
        open_responses=open_responses,
    )
    settings = replace(settings, app_spec=app_name or settings.app_spec)
    app = build_app(settings, recovery_interval=config.recovery_interval, run_turns=workers != 0)
    app_model(app)
    if not config.api_keys:
        click.secho(
            f"no API key: serving on {host} only (loopback), without authentication",
            err=True,
            fg="yellow",
        )
    server = uvicorn.Server(
        uvicorn_config(
            create_app(app, config),
            config,
            log_level=log_level,
            lifespan="on",
            timeout_graceful_shutdown=_SHUTDOWN_SECONDS,
        )
    )
    # uvicorn raises the Ctrl-C it caught again once it has stopped.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        raise SystemExit(_STARTUP_FAILURE)
