"""The gate every request passes: the `Host` header (against DNS rebinding), the `Origin` and
the content type (against web pages of other sites), the bearer token (an API key compared in
constant time, or a JWT of the server's OpenID provider), and the size of the body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._config import ServerConfig
from ._credentials import Credentials
from ._errors import APIError

PUBLIC_PATHS = frozenset({"/openapi.json"})
INSPECTOR_PREFIX = "/inspector"


def is_inspector_path(path: str) -> bool:
    """Whether `path` is a page of the web inspector, which signs browsers in itself."""
    return path == "/" or path == INSPECTOR_PREFIX or path.startswith(INSPECTOR_PREFIX + "/")


class BodyTooLarge(Exception):
    """The request body grew beyond the limit while it was read."""


def identity_of(scope: MutableMapping[str, Any]) -> str | None:
    """Who made the request: the identity of its API key or OIDC token, or None when the
    server asks for none."""
    state = scope.get("state") or {}
    identity = state.get("threadline.identity")
    return identity if isinstance(identity, str) else None


class SecurityMiddleware:
    """Rejects requests with a foreign `Host` or `Origin`, without a valid bearer token (when
    keys or an OIDC issuer are configured), or with a body over the limit or not JSON, before
    the app sees them."""

    def __init__(
        self, app: ASGIApp, config: ServerConfig, credentials: Credentials | None = None
    ) -> None:
        self.app = app
        self.config = config
        self.credentials = credentials or Credentials(config, None)
        self._allowed_hosts = config.allowed_hosts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        path = scope.get("path", "")
        inspector = is_inspector_path(path)
        problem = self._check_host(headers.get("host"))
        if problem is None:
            problem = self._check_origin(headers.get("origin"), headers.get("host"))
        if problem is None and inspector and scope["type"] == "http":
            problem = _check_form_post(scope.get("method", "GET"), headers.get("origin"))
        if problem is None and path not in PUBLIC_PATHS and not inspector:
            problem = await self._authenticate(scope, headers.get("authorization"))
        if problem is None and scope["type"] == "http":
            problem = self._check_length(headers.get("content-length"))
            receive = _limited(receive, self.config.max_body_bytes)
        if problem is None and scope["type"] == "http" and _has_body(headers):
            check = _check_form_type if inspector else _check_content_type
            problem = check(headers.get("content-type"))
        if problem is not None:
            await _reject(scope, receive, send, problem)
            return
        await self.app(scope, receive, send)

    def _check_host(self, host: str | None) -> APIError | None:
        if self._allowed_hosts is None:
            return None
        if host is None or host.lower() not in self._allowed_hosts:
            return APIError(
                400,
                "invalid Host header: this server only answers requests "
                "addressed to it by its loopback name",
                code="invalid_host",
            )
        return None

    def _check_origin(self, origin: str | None, host: str | None) -> APIError | None:
        # A browser names the page that sent a request; other clients send no Origin.
        if origin is None or self.config.origin_allowed(origin, host):
            return None
        return APIError(
            403,
            "requests from web pages of other sites are refused: the Origin header names "
            "a site this server does not serve",
            code="invalid_origin",
        )

    async def _authenticate(self, scope: Scope, authorization: str | None) -> APIError | None:
        if not self.credentials.required:
            return None
        try:
            identity = await self.credentials.identify(authorization)
        except APIError as problem:
            return problem
        scope.setdefault("state", {})["threadline.identity"] = identity
        return None

    def _check_length(self, length: str | None) -> APIError | None:
        if length is None:
            return None
        try:
            size = int(length)
        except ValueError:
            return APIError(400, "invalid Content-Length header", code="invalid_request")
        if size > self.config.max_body_bytes:
            return too_large(self.config.max_body_bytes)
        return None


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (length is not None and length.strip() != "0")


def _check_content_type(content_type: str | None) -> APIError | None:
    # A page may send text/plain or a form to any site without asking the browser first;
    # only JSON, which it cannot send across sites unasked, is read.
    media_type = (content_type or "").partition(";")[0].strip().lower()
    kind, _, subtype = media_type.partition("/")
    if media_type == "application/json" or (kind == "application" and subtype.endswith("+json")):
        return None
    shown = media_type[:60] or "none"
    return APIError(
        415,
        f"request bodies must be JSON, sent with Content-Type: application/json (not {shown})",
        code="unsupported_media_type",
    )


def _check_form_post(method: str, origin: str | None) -> APIError | None:
    # The inspector's forms are posted by its own pages: a browser names their origin, which
    # has been checked to be this server's; a post naming none did not come from them.
    if method in ("GET", "HEAD") or origin is not None:
        return None
    return APIError(
        403, "the inspector accepts form posts from its own pages only", code="invalid_origin"
    )


def _check_form_type(content_type: str | None) -> APIError | None:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return None
    return APIError(
        415,
        "the inspector reads forms only (application/x-www-form-urlencoded)",
        code="unsupported_media_type",
    )


def too_large(limit: int) -> APIError:
    return APIError(
        413, f"the request body is larger than the limit of {limit} bytes", code="request_too_large"
    )


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        if key not in found:
            found[key] = value.decode("latin-1")
    return found


def _limited(receive: Receive, limit: int) -> Callable[[], Awaitable[Message]]:
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return limited


async def _reject(scope: Scope, receive: Receive, send: Send, error: APIError) -> None:
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.close", "code": 1008, "reason": error.message[:100]})
        return
    await error.response()(scope, receive, send)
