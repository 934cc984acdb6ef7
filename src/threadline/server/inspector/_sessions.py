"""Who a browser is: a sign-in (with an API key, or through the server's OpenID provider)
gives an HttpOnly, SameSite=Strict cookie naming a session of this server process; forms
carry a token tied to that session."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from .._credentials import Credentials

SESSION_COOKIE = "threadline_session"
OPEN_SESSION = "open"  # the session of a server without keys: there is nothing to sign in to


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose threads it sees (None: every thread) and its form token."""

    identity: str | None
    csrf_token: str


class Sessions:
    """The sessions of this server. A session lives as long as the server process; one of a
    server with keys or an OpenID provider is created only by signing in."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._secret = secrets.token_bytes(32)
        self._identities: dict[str, str] = {}

    @property
    def open(self) -> bool:
        """Whether anyone who reaches the server may look (a loopback server that asks for
        no token)."""
        return not self._credentials.required

    def sign_in(self, presented: str) -> str | None:
        """A new session's cookie value for a valid API key, else None."""
        found = self._credentials.key_owner(presented)
        return None if found is None else self.start(found)

    def start(self, identity: str) -> str:
        """A new session's cookie value for a browser that proved to be `identity`."""
        token = secrets.token_urlsafe(32)
        self._identities[token] = identity
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
