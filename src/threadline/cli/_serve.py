"""`threadline serve`: the agents over the OpenAI Responses and Conversations HTTP API."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from ._session import app_model, build_app
from ._settings import Settings, pass_settings

if TYPE_CHECKING:
    from threadline.server import OIDCConfig

_KEYS_ENV = "THREADLINE_API_KEYS"
_CLIENT_SECRET_ENV = "THREADLINE_OIDC_CLIENT_SECRET"
_SHUTDOWN_SECONDS = 5
_STARTUP_FAILURE = 3  # uvicorn's exit status when the server could not start


@click.command()
@click.argument("app_name", metavar="[APP]", required=False)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Where to listen. Anything but loopback needs an API key or --oidc-issuer.",
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
    "--oidc-issuer",
    metavar="URL",
    help="Also accept JWT access tokens of this OpenID provider (its issuer URL, exactly as "
    "its tokens name it). Each subject sees only its own threads.",
)
@click.option(
    "--oidc-audience",
    metavar="AUD",
    help="The audience (aud) a token must name to call this server; needed with --oidc-issuer.",
)
@click.option(
    "--oidc-claim",
    default="sub",
    show_default=True,
    metavar="CLAIM",
    help="The token claim that names the owner of threads.",
)
@click.option(
    "--oidc-client-id",
    metavar="ID",
    help="The web inspector's client at the provider: its pages offer to sign in there "
    f"(authorization code with PKCE). A confidential client's secret is read from "
    f"{_CLIENT_SECRET_ENV}.",
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
    oidc_issuer: str | None,
    oidc_audience: str | None,
    oidc_claim: str,
    oidc_client_id: str | None,
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
        oidc=_oidc(oidc_issuer, oidc_audience, oidc_claim, oidc_client_id),
        workers=workers,
        log_content=log_content,
        refuse_client_instructions=refuse_client_instructions,
        open_responses=open_responses,
    )
    settings = replace(settings, app_spec=app_name or settings.app_spec)
    app = build_app(settings, recovery_interval=config.recovery_interval, run_turns=workers != 0)
    app_model(app)
    if not config.authenticated:
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


def _oidc(
    issuer: str | None, audience: str | None, claim: str, client_id: str | None
) -> OIDCConfig | None:
    from threadline.server import OIDCConfig

    if issuer is None:
        if audience is not None or client_id is not None:
            raise click.UsageError("--oidc-audience and --oidc-client-id need --oidc-issuer")
        return None
    if audience is None:
        raise click.UsageError("--oidc-issuer needs --oidc-audience")
    secret = os.environ.get(_CLIENT_SECRET_ENV) or None
    if secret is not None and client_id is None:
        raise click.UsageError(f"{_CLIENT_SECRET_ENV} is set but --oidc-client-id is not")
    return OIDCConfig(
        issuer=issuer, audience=audience, claim=claim, client_id=client_id, client_secret=secret
    )
