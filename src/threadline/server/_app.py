"""The ASGI app `threadline serve` runs: the OpenAI-compatible routes behind the security
gate, the OpenAPI schema, and the threadline app's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp

from threadline import Threadline
from threadline._logging import log_failure
from threadline.types import ThreadlineError

from ._config import ServerConfig
from ._credentials import Credentials
from ._errors import APIError, from_threadline
from ._oidc import OIDCVerifier
from ._security import BodyTooLarge, SecurityMiddleware, too_large
from .inspector import Inspector
from .mcp import MCPEndpoint
from .responses import (
    Access,
    CompactAPI,
    ConversationsAPI,
    Drivers,
    ModelsAPI,
    ResponsesAPI,
    ResponsesSocket,
    openapi_schema,
)

logger = logging.getLogger("threadline.server")


def create_app(app: Threadline, config: ServerConfig | None = None) -> ASGIApp:
    """The HTTP server of `app`: the OpenAI Responses and Conversations API under `/v1`
    (with the Responses WebSocket mode on `/v1/responses`), the agents as the models of
    `/v1/models`, the agents as MCP tools at `/mcp` (streamable HTTP), its OpenAPI schema at
    `/openapi.json`, and the web inspector at `/`. Opening the ASGI app (its lifespan)
    opens `app` and recovers what crashed; shutting it down closes `app`. Serve it with the uvicorn
    configuration of `uvicorn_config` (its header timeout and log hygiene).

        config = ServerConfig(port=8321)
        asgi = create_app(tl.Threadline(agents=[agent], recovery_interval=5), config)
        uvicorn.Server(uvicorn_config(asgi, config)).run()
    """
    config = config or ServerConfig()
    verifier = OIDCVerifier(config.oidc) if config.oidc is not None else None
    credentials = Credentials(config, verifier)
    drivers = Drivers()
    access = Access(app, config, drivers)
    schema = openapi_schema()
    responses = ResponsesAPI(access)
    responses_socket = ResponsesSocket(responses)
    mcp = MCPEndpoint(app, config)

    from .codex import websocket_route

    async def identify(token: str | None) -> str:
        if token is None:
            raise PermissionError("no bearer token")
        return await credentials.identify_token(token)

    # The security middleware has already checked the token (and the Host) of a connection.
    codex = websocket_route(
        app,
        authorize=(lambda _: True) if credentials.required else None,
        identify=identify if credentials.required else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncGenerator[None]:
        await app.open()
        await app.recover()
        stop = asyncio.Event()
        working = (
            asyncio.ensure_future(app.work(concurrency=config.workers, stop=stop))
            if config.workers
            else None
        )
        try:
            async with mcp.run():
                yield
        finally:
            stop.set()
            if working is not None:
                await working
            await codex.close()
            await responses_socket.close()
            await app.close()
            await drivers.close()
            if verifier is not None:
                await verifier.aclose()
            await mcp.close()

    async def openapi(_: Request) -> Response:
        return JSONResponse(schema)

    routes = [
        Route("/openapi.json", openapi, methods=["GET"]),
        *responses.routes(),
        *CompactAPI(access).routes(),
        responses_socket.route(),
        *ConversationsAPI(access).routes(),
        *ModelsAPI(app).routes(),
        codex,
        *Inspector(access, credentials).routes(),
        mcp.route(),
    ]
    starlette = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            APIError: _api_error,
            BodyTooLarge: _body_too_large(config),
            ThreadlineError: _threadline_error,
            HTTPException: _http_error(routes),
            Exception: _unexpected,
        },
    )
    return SecurityMiddleware(starlette, config, credentials)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


def _body_too_large(config: ServerConfig):  # type: ignore[no-untyped-def]
    async def handle(_: Request, __: Exception) -> Response:
        return too_large(config.max_body_bytes).response()

    return handle


async def _threadline_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ThreadlineError)
    return from_threadline(exc).response()


def _http_error(routes: Sequence[BaseRoute]) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return APIError(
                404, "Unknown URL: no such route on this server", code="unknown_url"
            ).response()
        if exc.status_code == 405:
            response = APIError(
                405, "Method not allowed on this URL", code="method_not_allowed"
            ).response()
            response.headers["Allow"] = _allowed_methods(routes, request)
            return response
        return APIError(exc.status_code, str(exc.detail)).response()

    return handle


def _allowed_methods(routes: Sequence[BaseRoute], request: Request) -> str:
    # Starlette's own Allow names only the first route of the path; a path has several.
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log_failure(logger, "%s %s failed unexpectedly", request.method, request.url.path, exc=exc)
    return APIError(500, "internal server error", code="internal_error").response()
