"""What `threadline serve` decided: where to listen, who may call, and the limits on input."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from threadline.types import ConfigurationError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8321


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_identity(api_key: str) -> str:
    """The identity stored on the threads of an API key: a hash, never the key itself."""
    return "apikey:" + hashlib.sha256(api_key.encode()).hexdigest()[:32]


def oidc_identity(issuer: str, value: str, claim: str = "sub") -> str:
    """The identity stored on the threads of an OpenID Connect subject: `oidc:` and a hash of
    the issuer, the claim's name and its value, so that it never equals an API key's identity
    (`apikey:...`) nor another issuer's subject of the same name.

        user_id = oidc_identity("https://id.example.com", "alice")
        threads = await app.threads.list(user_id=user_id)
    """
    material = "\0".join((issuer, claim, value)).encode()
    return "oidc:" + hashlib.sha256(material).hexdigest()[:32]


@dataclass(frozen=True, kw_only=True)
class OIDCConfig:
    """Bearer tokens from an OpenID Provider: JWTs that `issuer` signed for `audience`.

        oidc = OIDCConfig(issuer="https://id.example.com", audience="https://api.example.com")
        config = ServerConfig(host="0.0.0.0", oidc=oidc)

    Args:
        issuer: the provider's issuer URL, exactly as its tokens name it (`iss`); its
            discovery document is read from `<issuer>/.well-known/openid-configuration`.
            https, or http on a loopback address.
        audience: the `aud` a token must name to call this server.
        claim: the claim whose value is the owner of threads (`sub` by default). Each value
            sees only its own threads, as one API key does.
        client_id, client_secret: the inspector's client at the provider, for its "Sign in
            with" button (authorization code with PKCE); without a client id the inspector
            offers only the API key form. Register `<server>/inspector/oidc/callback` as its
            redirect URI. No secret: a public client.
        scopes: the scopes the inspector asks for (`claim` must be in the ID token too).
        leeway_seconds: the clock difference tolerated on `exp`, `nbf` and `iat`.
        jwks_cooldown_seconds: a token signed by a key the server does not know makes it
            fetch the provider's keys again (keys rotate), at most once per this long.
        timeout_seconds: how long a request to the provider may take.

    Raises `ConfigurationError` for a missing or malformed setting.
    """

    issuer: str
    audience: str
    claim: str = "sub"
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: Sequence[str] = ("openid",)
    leeway_seconds: float = 30.0
    jwks_cooldown_seconds: float = 30.0
    timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.issuer)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"the OIDC issuer must be an https URL, not {self.issuer!r}")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigurationError(
                "the OIDC issuer must use https (http is accepted for a loopback address only)"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("the OIDC issuer must have no query and no fragment")
        if not self.audience.strip():
            raise ConfigurationError("the OIDC audience must be non-empty")
        if not self.claim.strip():
            raise ConfigurationError("the OIDC claim must be a claim name, such as 'sub'")
        if self.client_secret is not None and not self.client_id:
            raise ConfigurationError("an OIDC client secret needs its client id")
        if isinstance(self.scopes, str):
            raise ConfigurationError("the OIDC scopes are a list of names, such as ('openid',)")
        if self.client_id is not None and "openid" not in self.scopes:
            raise ConfigurationError("the OIDC scopes must include 'openid'")
        if self.leeway_seconds < 0 or self.jwks_cooldown_seconds < 0:
            raise ConfigurationError("OIDC leeway and cooldown must not be negative")
        if self.timeout_seconds <= 0:
            raise ConfigurationError("the OIDC timeout must be positive")


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How the HTTP server listens and what it accepts.

        config = ServerConfig(host="0.0.0.0", port=8321, api_keys=("sk-team-1",))

    Args:
        host, port: where to listen. Anything but loopback requires `api_keys` or `oidc`.
        api_keys: bearer tokens that may call the API; each key sees only its own threads.
            Empty, and no `oidc`: no authentication (allowed on loopback only).
        oidc: also accept JWTs of an OpenID Provider (`OIDCConfig`); each subject sees only
            its own threads. API keys keep working beside it.
        max_body_bytes: larger request bodies get 413.
        max_json_depth: more deeply nested JSON gets 400.
        sse_buffer: events one stream may fall behind before its client is dropped.
        keepalive_seconds: how often an idle stream sends an SSE comment.
        write_timeout_seconds: a stream whose client accepts nothing for this long is closed.
        recovery_interval: seconds between recovery passes (crashed turns continue).
        header_timeout_seconds: a connection whose request line and headers have not all
            arrived this long after it opened (or after the request's first byte) is closed.
        idle_timeout_seconds: an idle kept-alive connection is closed after this long.
        log_content: log what requests and turns hold (exception messages and tracebacks,
            WebSocket frames and headers); off, the logs hold no credentials and no content.
        open_responses: write the Open Responses dialect of the Responses API: the agent's
            own tools and approval pauses as `threadline:`-prefixed items instead of OpenAI's
            `mcp_call` and `mcp_approval_request` (which OpenAI's SDKs read).
        workers: None: requests run their turns in this process. 0: only store turns, for
            worker processes to run (the app must be built with `run_turns=False`).
            N > 0: also claim stored work, up to N turns at once.
        refuse_client_instructions: answer 400 to a response request that sends
            `instructions`; by default they are added to the agent's for that turn.

    Raises `ConfigurationError` for a non-loopback host without API keys or OIDC.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_keys: Sequence[str] = ()
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 64
    sse_buffer: int = 1000
    keepalive_seconds: float = 15.0
    workers: int | None = None
    write_timeout_seconds: float = 30.0
    recovery_interval: float = 5.0
    extra_allowed_hosts: Sequence[str] = field(default_factory=tuple[str, ...])
    header_timeout_seconds: float = 10.0
    idle_timeout_seconds: int = 5
    log_content: bool = False
    refuse_client_instructions: bool = False
    open_responses: bool = False
    oidc: OIDCConfig | None = None

    def __post_init__(self) -> None:
        if any(not key or key != key.strip() for key in self.api_keys):
            raise ConfigurationError("API keys must be non-empty and without surrounding spaces")
        if not self.authenticated and not is_loopback(self.host):
            raise ConfigurationError(
                f"refusing to listen on {self.host} without an API key: anyone who can reach "
                "it could read and run every thread. Pass --api-key (or set "
                "THREADLINE_API_KEYS) or --oidc-issuer, or bind to 127.0.0.1"
            )
        limits = (
            self.max_body_bytes,
            self.max_json_depth,
            self.sse_buffer,
            self.header_timeout_seconds,
            self.idle_timeout_seconds,
        )
        if any(limit <= 0 for limit in limits):
            raise ConfigurationError("server limits must be positive")

    @property
    def authenticated(self) -> bool:
        """Whether callers must present a bearer token (an API key or an OIDC token)."""
        return bool(self.api_keys) or self.oidc is not None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def allowed_hosts(self) -> frozenset[str] | None:
        """The `Host` header values accepted (against DNS rebinding), or None for any: a
        server bound beyond loopback is reached under names it cannot know."""
        if not self.loopback:
            return None
        names = ["127.0.0.1", "localhost", "[::1]", *self.extra_allowed_hosts]
        hosts = {f"{name}:{self.port}" for name in names}
        if self.port == 80:
            hosts.update(names)
        return frozenset(hosts)

    def origin_allowed(self, origin: str, host: str | None) -> bool:
        """Whether a web page of `origin` may call the server: only a page the server itself
        served, i.e. one whose host and port are a name the server answers to (on loopback,
        one of `allowed_hosts()`; elsewhere, the `Host` the request was sent to)."""
        origin_host = _origin_host(origin)
        if origin_host is None:
            return False
        allowed = self.allowed_hosts()
        if allowed is not None:
            return origin_host in allowed
        return host is not None and origin_host == _with_port(host.lower(), origin)


def _origin_host(origin: str) -> str | None:
    """`host:port` of a web origin (`scheme://host[:port]`), or None for `null` and the like."""
    try:
        parts = urlsplit(origin.strip().lower())
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    if parts.path or parts.query or parts.fragment:
        return None
    return _with_port(parts.netloc, origin)


def _with_port(netloc: str, origin: str) -> str:
    if netloc.endswith("]") or ":" not in netloc:
        return f"{netloc}:{443 if origin.lower().startswith('https:') else 80}"
    return netloc
