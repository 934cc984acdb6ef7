"""Whose a bearer token is: an API key (compared in constant time with every key) or, when
the server trusts an OpenID Provider, a JWT it signed. Either way the answer is the identity
that owns threads (`key_identity`, `oidc_identity`); the token itself is never kept."""

from __future__ import annotations

import hmac
import logging

from ._config import ServerConfig, key_identity
from ._errors import APIError
from ._oidc import OIDCVerifier, ProviderUnavailable, TokenRejected, looks_like_jwt

logger = logging.getLogger("threadline.server.auth")


class Credentials:
    """The bearer tokens a server accepts. `verifier` checks OIDC tokens (None: keys only)."""

    def __init__(self, config: ServerConfig, verifier: OIDCVerifier | None) -> None:
        self._keys = [(key.encode(), key_identity(key)) for key in config.api_keys]
        self.verifier = verifier

    @property
    def required(self) -> bool:
        """Whether callers must present a token (the server has keys or an OIDC issuer)."""
        return bool(self._keys) or self.verifier is not None

    def key_owner(self, presented: str) -> str | None:
        """The identity of the API key `presented`, or None."""
        candidate = presented.strip().encode()
        found: str | None = None
        for key, identity in self._keys:  # every key is compared: no early exit
            if hmac.compare_digest(candidate, key):
                found = identity
        return found

    async def identify(self, authorization: str | None) -> str:
        """The identity of an `Authorization` header's bearer token; `APIError` (401, or
        503 when the provider cannot be reached to check a JWT) otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise self._missing()
        return await self.identify_token(token)

    async def identify_token(self, token: str) -> str:
        """The identity of a bearer token, as `identify`."""
        found = self.key_owner(token)
        if found is not None:
            return found
        if self.verifier is None or not looks_like_jwt(token):
            raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
        try:
            return await self.verifier.identify(token)
        except TokenRejected as exc:
            logger.debug("refused a bearer token: %s", exc)
            raise APIError(
                401, f"The bearer token was refused: {exc}.", code="invalid_token"
            ) from None
        except ProviderUnavailable as exc:
            raise APIError(
                503,
                f"The bearer token could not be checked: {exc}. Try again later.",
                code="oidc_unavailable",
                retry=True,
            ) from None

    def _missing(self) -> APIError:
        if self.verifier is None:
            message = (
                "You didn't provide an API key. Send it in the Authorization "
                "header as 'Bearer YOUR_KEY'."
            )
        else:
            message = (
                "You didn't provide a bearer token. Send an API key or an access token of "
                "the server's OpenID provider in the Authorization header as 'Bearer TOKEN'."
            )
        return APIError(401, message, code="missing_api_key")
