"""Who a browser is: a sign-in with an API key gives an HttpOnly, SameSite=Strict cookie
naming a session of this server process; forms carry a token tied to that session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from .._config import key_identity

SESSION_COOKIE = "threadline_session"
OPEN_SESSION = "open"  # the session of a server without keys: there is nothing to sign in to


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose threads it sees (None: every thread) and its form token."""

    identity: str | None
    csrf_token: str


class Sessions:
    """The sessions of this server. A session lives as long as the server process; one of a
    server with keys is created only by presenting a key."""

    def __init__(self, api_keys: Sequence[str]) -> None:
        self._keys = [(key.encode(), key_identity(key)) for key in api_keys]
        self._secret = secrets.token_bytes(32)
        self._identities: dict[str, str] = {}

    @property
    def open(self) -> bool:
        """Whether anyone who reaches the server may look (a loopback server without keys)."""
        return not self._keys

    def sign_in(self, presented: str) -> str | None:
        """A new session's cookie value for a valid key, else None."""
        found: str | None = None
        for key, identity in self._keys:  # every key is compared: no early exit
            if hmac.compare_digest(presented.strip().encode(), key):
                found = identity
        if found is None:
            return None
        token = secrets.token_urlsafe(32)
        self._identities[token] = found
        return token

    def sign_out(self, cookie: str | None) -> None:
        if cookie:
            self._identities.pop(cookie, None)

    def find(self, cookie: str | None) -> Session | None:
        """The session a request's cookie names, or None when it must sign in."""
        if self.open:
            return Session(identity=None, csrf_token=self._csrf(OPEN_SESSION))
        identity = self._identities.get(cookie or "")
        if cookie is None or identity is None:
            return None
        return Session(identity=identity, csrf_token=self._csrf(cookie))

    def _csrf(self, session: str) -> str:
        return hmac.new(self._secret, session.encode(), hashlib.sha256).hexdigest()


def token_matches(session: Session, presented: str | None) -> bool:
    """Whether a form's token is its session's."""
    return presented is not None and hmac.compare_digest(presented, session.csrf_token)
