"""Tokens of an OpenID Provider: its discovery document, its signing keys (cached; fetched
again when a token names a key not seen yet, at most once per cooldown, so that rotated keys
are picked up and a flood of made-up key ids cannot hammer the provider), and the checks
every token passes: an asymmetric algorithm the provider signs with, a key it publishes, the
signature, the issuer, the audience and the times."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, import_key

from ._config import OIDCConfig, is_loopback, oidc_identity

logger = logging.getLogger("threadline.server.oidc")

# Only signatures made with a private key: `none` and the HMAC family (HS*) are never
# accepted, whatever a token or a discovery document says (an HS256 token "signed" with the
# provider's public key is the classic forgery).
ASYMMETRIC_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
        "Ed25519",
        "Ed448",
    }
)
_JWKS_MAX_AGE = 600.0  # keys older than this are fetched again before use
_RETRY_SECONDS = 1.0  # after a failed fetch, requests fail fast for this long
_MAX_TOKEN_CHARS = 16 * 1024
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


class TokenRejected(Exception):
    """A token this server does not accept. Its message says why, in words safe to send to
    the client: never the token, never a claim's value."""


class ProviderUnavailable(Exception):
    """The provider's discovery document or keys could not be read, so a token could not be
    checked (a retry may succeed)."""


@dataclass(frozen=True, kw_only=True)
class ProviderMetadata:
    """What the discovery document says that this server uses."""

    issuer: str
    jwks_uri: str
    authorization_endpoint: str | None
    token_endpoint: str | None
    algorithms: frozenset[str]  # accepted: asymmetric, and signed with by the provider


def looks_like_jwt(token: str) -> bool:
    """Whether a bearer token has the shape of a JWS: three dot-separated parts (an unsigned
    one, `alg: none`, has an empty third part; it is refused as a JWT, not taken for a key)."""
    parts = token.split(".")
    return len(parts) == 3 and bool(parts[0]) and bool(parts[1])


class OIDCVerifier:
    """Checks the tokens of one issuer and tells whose they are (`oidc_identity`).

    Its HTTP client is made on first use, in the event loop that uses it; `aclose()` closes it.
    """

    def __init__(self, config: OIDCConfig, *, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self._clock = clock
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = None
        self._metadata: ProviderMetadata | None = None
        self._keys: list[tuple[str | None, Key, str | None]] = []  # (kid, key, its alg)
        self._fetched_at: float | None = None
        self._refetched_at: float | None = None
        self._failed_at: float | None = None
        self._generation = 0

    @property
    def http(self) -> httpx.AsyncClient:
        """The client that talks to the provider (no redirects followed, bounded time)."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.config.timeout_seconds,
                follow_redirects=False,
                headers={"Accept": "application/json"},
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, read once (`ProviderUnavailable` if it cannot)."""
        if self._metadata is None:
            async with self._lock:
                if self._metadata is None:
                    self._fail_fast()
                    try:
                        self._metadata = await self._discover()
                    except ProviderUnavailable:
                        self._failed_at = self._clock()
                        raise
        return self._metadata

    async def identify(self, token: str) -> str:
        """The identity of a valid access token for this server's audience.

        Raises `TokenRejected` for a token that is not one, `ProviderUnavailable` when the
        provider's keys cannot be read."""
        return self.identity(await self.verify(token, audience=self.config.audience))

    def identity(self, claims: Mapping[str, Any]) -> str:
        """The owner of threads that verified `claims` name (`TokenRejected` without one)."""
        claim = self.config.claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise TokenRejected(f"the token has no '{claim}' claim naming its owner")
        return oidc_identity(self.config.issuer, value, claim)

    async def verify(
        self, token: str, *, audience: str, nonce: str | None = None
    ) -> dict[str, Any]:
        """The claims of `token` once its signature, issuer, audience, times (and `nonce`,
        for an ID token) are checked; `TokenRejected` otherwise."""
        if len(token) > _MAX_TOKEN_CHARS or not looks_like_jwt(token):
            raise TokenRejected("the token is not a JWT")
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, TypeError):
            raise TokenRejected("the token is not a well-formed JWT") from None
        metadata = await self.metadata()
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in metadata.algorithms:
            raise TokenRejected("the token is signed with an algorithm this server refuses")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("the token's key id is not a string")
        claims = await self._verified(token, algorithm, kid)
        self._check_claims(claims, audience, nonce)
        return claims

    # --- signature ---------------------------------------------------------------------

    async def _verified(self, token: str, algorithm: str, kid: str | None) -> dict[str, Any]:
        candidates = await self._candidates(algorithm, kid)
        if not candidates:
            raise TokenRejected("the token is signed with a key the issuer does not publish")
        for key in candidates:
            try:
                return dict(jwt.decode(token, key, algorithms=[algorithm]).claims)
            except BadSignatureError:
                continue
            except JoseError:
                continue  # a key of another type or curve than the algorithm needs
        raise TokenRejected("the token's signature is not valid")

    async def _candidates(self, algorithm: str, kid: str | None) -> list[Key]:
        if self._fetched_at is None or self._clock() - self._fetched_at > _JWKS_MAX_AGE:
            await self._refresh(unknown_kid=False)
        found = self._matching(algorithm, kid)
        if found or kid is None:
            return found
        # A key id not seen yet: the provider may have rotated its keys since they were read.
        now = self._clock()
        cooldown = self.config.jwks_cooldown_seconds
        if self._refetched_at is not None and now - self._refetched_at < cooldown:
            return []
        await self._refresh(unknown_kid=True)
        return self._matching(algorithm, kid)

    def _matching(self, algorithm: str, kid: str | None) -> list[Key]:
        return [
            key
            for key_id, key, key_algorithm in self._keys
            if (kid is None or key_id == kid) and key_algorithm in (None, algorithm)
        ]

    async def _refresh(self, *, unknown_kid: bool) -> None:
        seen = self._generation
        async with self._lock:
            if self._generation != seen:
                return  # another request fetched them meanwhile
            if unknown_kid:
                self._refetched_at = self._clock()
            try:
                self._fail_fast()
            except ProviderUnavailable:
                if self._keys:
                    return  # the keys known so far serve until the provider answers again
                raise
            try:
                metadata = self._metadata or await self._discover()
                self._metadata = metadata
                keys = await self._fetch_keys(metadata.jwks_uri)
            except ProviderUnavailable:
                self._failed_at = self._clock()
                if self._keys:
                    return
                raise
            self._failed_at = None
            self._keys = keys
            self._fetched_at = self._clock()
            self._generation += 1

    def _fail_fast(self) -> None:
        if self._failed_at is not None and self._clock() - self._failed_at < _RETRY_SECONDS:
            raise ProviderUnavailable("the OpenID provider could not be reached")

    # --- fetching ----------------------------------------------------------------------

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            logger.warning("could not fetch the OpenID provider's %s: %s", what, type(exc).__name__)
            raise ProviderUnavailable(f"the OpenID provider's {what} could not be read") from None
        if response.status_code != 200:
            logger.warning("the OpenID provider's %s answered HTTP %d", what, response.status_code)
            raise ProviderUnavailable(f"the OpenID provider's {what} could not be read")
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            logger.warning("the OpenID provider's %s is not a JSON object", what)
            raise ProviderUnavailable(f"the OpenID provider's {what} could not be read")
        return document

    async def _discover(self) -> ProviderMetadata:
        issuer = self.config.issuer
        document = await self._get_json(
            issuer.rstrip("/") + "/.well-known/openid-configuration", "discovery document"
        )
        if document.get("issuer") != issuer:
            logger.warning("the discovery document of %s names another issuer", issuer)
            raise ProviderUnavailable("the OpenID provider's discovery document is not its own")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not _trusted_url(jwks_uri):
            logger.warning("the discovery document of %s has no usable jwks_uri", issuer)
            raise ProviderUnavailable("the OpenID provider publishes no usable keys")
        offered = document.get("id_token_signing_alg_values_supported")
        algorithms = ASYMMETRIC_ALGORITHMS
        if isinstance(offered, list):
            algorithms = algorithms & frozenset(a for a in offered if isinstance(a, str))
        if not algorithms:
            logger.warning("%s signs with no asymmetric algorithm", issuer)
            raise ProviderUnavailable("the OpenID provider signs with no accepted algorithm")
        return ProviderMetadata(
            issuer=issuer,
            jwks_uri=jwks_uri,
            authorization_endpoint=_endpoint(document, "authorization_endpoint"),
            token_endpoint=_endpoint(document, "token_endpoint"),
            algorithms=algorithms,
        )

    async def _fetch_keys(self, jwks_uri: str) -> list[tuple[str | None, Key, str | None]]:
        document = await self._get_json(jwks_uri, "keys")
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise ProviderUnavailable("the OpenID provider's keys could not be read")
        keys: list[tuple[str | None, Key, str | None]] = []
        for entry in entries:
            parsed = _signing_key(entry)
            if parsed is not None:
                keys.append(parsed)
        return keys

    # --- claims ------------------------------------------------------------------------

    def _check_claims(self, claims: dict[str, Any], audience: str, nonce: str | None) -> None:
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.config.issuer},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
        registry = jwt.JWTClaimsRegistry(
            now=int(time.time()), leeway=int(self.config.leeway_seconds), **options
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise TokenRejected("the token has expired") from None
        except MissingClaimError as exc:
            raise TokenRejected(f"the token lacks a required claim ({exc.claim})") from None
        except ClaimError as exc:
            raise TokenRejected(_claim_problem(exc.claim)) from None


def _claim_problem(claim: str) -> str:
    problems = {
        "iss": "the token was issued by another issuer",
        "aud": "the token was issued for another audience",
        "nbf": "the token is not valid yet",
        "iat": "the token was issued in the future",
        "nonce": "the token was issued for another sign-in",
    }
    return problems.get(claim, f"the token's '{claim}' claim is not valid")


def _signing_key(entry: object) -> tuple[str | None, Key, str | None] | None:
    """A published key usable to check signatures, or None (encryption keys, symmetric keys,
    keys of unknown types are skipped)."""
    if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
        return None
    if entry.get("use") not in (None, "sig"):
        return None
    operations = entry.get("key_ops")
    if operations is not None and (not isinstance(operations, list) or "verify" not in operations):
        return None
    kid, algorithm = entry.get("kid"), entry.get("alg")
    if (kid is not None and not isinstance(kid, str)) or (
        algorithm is not None and algorithm not in ASYMMETRIC_ALGORITHMS
    ):
        return None
    public = {name: value for name, value in entry.items() if name not in _PRIVATE_MEMBERS}
    try:
        key = import_key(public)
    except (JoseError, ValueError, TypeError):
        return None
    return kid, key, algorithm


def _endpoint(document: dict[str, Any], name: str) -> str | None:
    value = document.get(name)
    return value if isinstance(value, str) and _trusted_url(value) else None


def _trusted_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and is_loopback(parts.hostname or "")
