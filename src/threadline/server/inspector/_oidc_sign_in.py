"""Signing a browser in through the server's OpenID provider: the authorization code flow
with PKCE (S256), `state` and `nonce`. A flow is bound to the browser that started it by a
short-lived cookie naming it, and is used once. The ID token is checked by the verifier of
bearer tokens (its audience is the inspector's client id, its nonce the flow's) and gives the
identity an access token of the same subject has."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

import httpx

from .._config import OIDCConfig
from .._oidc import OIDCVerifier, ProviderUnavailable, TokenRejected

logger = logging.getLogger("threadline.server.inspector")

FLOW_COOKIE = "threadline_oidc"
FLOW_SECONDS = 600  # a sign-in not finished within this long starts again
_MAX_FLOWS = 1000  # flows started and never finished are bounded in number
_ERROR_CODE = re.compile(r"[a-z_]{1,64}")


class SignInFailed(Exception):
    """A sign-in that did not succeed; its message is shown to the person."""


@dataclass(frozen=True, kw_only=True)
class _Flow:
    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    started: float


@dataclass(frozen=True, kw_only=True)
class Started:
    """A flow begun: the value of its cookie and where to send the browser."""

    flow_id: str
    authorization_url: str


class OIDCSignIn:
    """The flows of one server: `start` one, `finish` it with what the provider sent back."""

    def __init__(
        self,
        config: OIDCConfig,
        verifier: OIDCVerifier,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.client_id is None:
            raise ValueError("signing in through OIDC needs a client id")
        self.config = config
        self.client_id: str = config.client_id
        self.verifier = verifier
        self._clock = clock
        self._flows: dict[str, _Flow] = {}

    @property
    def issuer(self) -> str:
        return self.config.issuer

    async def start(self, redirect_uri: str) -> Started:
        """A new flow that the provider will end at `redirect_uri`."""
        metadata = await self.verifier.metadata()
        if metadata.authorization_endpoint is None or metadata.token_endpoint is None:
            raise ProviderUnavailable("the OpenID provider offers no authorization code flow")
        flow = _Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            redirect_uri=redirect_uri,
            started=self._clock(),
        )
        flow_id = secrets.token_urlsafe(32)
        self._keep(flow_id, flow)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(flow.code_verifier.encode()).digest()
        ).rstrip(b"=")
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.config.scopes),
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": challenge.decode(),
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return Started(
            flow_id=flow_id,
            authorization_url=f"{metadata.authorization_endpoint}{separator}{query}",
        )

    async def finish(self, flow_id: str | None, params: Mapping[str, str]) -> str:
        """The identity of the browser whose flow `flow_id` the provider answered with
        `params` (the callback's query); `SignInFailed` otherwise. A flow works once."""
        flow = self._flows.pop(flow_id or "", None)
        if flow is None or self._clock() - flow.started > FLOW_SECONDS:
            raise SignInFailed("This sign-in has expired or was started elsewhere: start again.")
        if not hmac.compare_digest(params.get("state", ""), flow.state):
            raise SignInFailed("This sign-in has expired or was started elsewhere: start again.")
        if "iss" in params and params["iss"] != self.issuer:
            raise SignInFailed("The answer came from another provider than this server's.")
        error = params.get("error")
        if error is not None:
            shown = error if _ERROR_CODE.fullmatch(error) else "error"
            raise SignInFailed(f"The provider did not sign you in ({shown}).")
        code = params.get("code")
        if not code:
            raise SignInFailed("The provider sent no authorization code.")
        id_token = await self._exchange(flow, code)
        try:
            claims = await self.verifier.verify(id_token, audience=self.client_id, nonce=flow.nonce)
            authorized = claims.get("azp")
            audience = claims.get("aud")
            several = isinstance(audience, list) and len(audience) > 1
            if (authorized is not None or several) and authorized != self.client_id:
                raise TokenRejected("the token was issued to another client")
            return self.verifier.identity(claims)
        except TokenRejected as exc:
            logger.info("refused an ID token: %s", exc)
            raise SignInFailed(f"The provider's ID token was refused: {exc}.") from None
        except ProviderUnavailable:
            raise SignInFailed("The provider could not be reached: try again later.") from None

    async def _exchange(self, flow: _Flow, code: str) -> str:
        metadata = await self.verifier.metadata()
        assert metadata.token_endpoint is not None  # checked when the flow started
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": flow.redirect_uri,
            "code_verifier": flow.code_verifier,
        }
        headers: dict[str, str] = {}
        if self.config.client_secret is None:
            form["client_id"] = self.client_id
        else:
            # client_secret_basic: both parts form-encoded first (RFC 6749, section 2.3.1).
            pair = f"{quote_plus(self.client_id)}:{quote_plus(self.config.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            response = await self.verifier.http.post(
                metadata.token_endpoint, data=form, headers=headers
            )
        except httpx.HTTPError as exc:
            logger.warning("the OpenID provider's token endpoint failed: %s", type(exc).__name__)
            raise SignInFailed("The provider could not be reached: try again later.") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            logger.warning(
                "the OpenID provider refused a code exchange: HTTP %d %s",
                response.status_code,
                error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else "",
            )
            raise SignInFailed("The provider refused the sign-in: start again.")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("The provider sent no ID token (is 'openid' among the scopes?).")
        return id_token

    def _keep(self, flow_id: str, flow: _Flow) -> None:
        if len(self._flows) >= _MAX_FLOWS:
            now = self._clock()
            for stale in [k for k, f in self._flows.items() if now - f.started > FLOW_SECONDS]:
                del self._flows[stale]
        while len(self._flows) >= _MAX_FLOWS:
            del self._flows[next(iter(self._flows))]  # the oldest
        self._flows[flow_id] = flow
