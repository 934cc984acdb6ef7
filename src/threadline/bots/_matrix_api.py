"""The client-server API calls the Matrix adapter makes that `matrix-nio` has no method for
(history, user directory, profiles), as JSON, through nio's HTTP session."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from nio import AsyncClient

RATE_LIMIT_RETRIES = 8
_MESSAGES_ONLY = json.dumps({"types": ["m.room.message"]})


class MatrixRequestError(ConnectionError):
    """The homeserver refused a request (`status`, Matrix `errcode`)."""

    def __init__(self, what: str, status: int | None, errcode: str | None) -> None:
        super().__init__(f"the homeserver refused to {what}: {errcode or status or 'error'}")
        self.status = status
        self.errcode = errcode


class MatrixAPI:
    """Raw client-server calls on `client`'s session, authorised by `access_token`."""

    def __init__(self, client: AsyncClient, access_token: str) -> None:
        self._client = client
        self._access_token = access_token

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON answer; rate limits are waited out. Raises `MatrixRequestError`."""
        url = path + ("?" + urlencode(query) if query else "")
        headers = {
            "Authorization": f"Bearer {self._access_token}",
            "Content-Type": "application/json",
        }
        data = None if body is None else json.dumps(body)
        for _ in range(RATE_LIMIT_RETRIES + 1):
            response = await self._client.send(method, url, data, headers)
            try:
                status = response.status
                try:
                    answer = await response.json(content_type=None)
                except ValueError:
                    answer = None
            finally:
                response.release()
            answer = answer if isinstance(answer, dict) else {}
            if status == 429:
                wait = answer.get("retry_after_ms")
                await asyncio.sleep(min(wait / 1000 if isinstance(wait, int) else 1.0, 30.0))
                continue
            if status >= 400:
                errcode = answer.get("errcode")
                raise MatrixRequestError(
                    what, status, errcode if isinstance(errcode, str) else None
                )
            return answer
        raise MatrixRequestError(what, 429, "M_LIMIT_EXCEEDED")

    async def event(self, room_id: str, event_id: str) -> dict[str, Any]:
        return await self.request(
            "GET",
            f"/_matrix/client/v3/rooms/{_q(room_id)}/event/{_q(event_id)}",
            what="read a message",
        )

    async def thread(self, room_id: str, root: str, limit: int) -> list[dict[str, Any]]:
        """The thread's root and its newest `limit` events, oldest first."""
        newest: list[dict[str, Any]] = []
        page: str | None = None
        while len(newest) < limit:
            query = {"dir": "b", "limit": str(min(limit - len(newest), 100))}
            if page is not None:
                query["from"] = page
            data = await self.request(
                "GET",
                f"/_matrix/client/v1/rooms/{_q(room_id)}/relations/{_q(root)}/m.thread",
                query=query,
                what="read the thread",
            )
            chunk = _events(data.get("chunk"))
            newest.extend(chunk)
            page = data.get("next_batch")
            if not isinstance(page, str) or not chunk:
                break
        return [await self.event(room_id, root), *reversed(newest)]

    async def messages(
        self,
        room_id: str,
        start: str | None,
        *,
        stop: str | None = None,
        messages_only: bool = False,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the room's events, newest first, from `start` (None: the newest) back
        to `stop`, and where the next page starts (None: there is none)."""
        query = {"dir": "b", "limit": "100"}
        if start is not None:
            query["from"] = start
        if stop is not None:
            query["to"] = stop
        if messages_only:
            query["filter"] = _MESSAGES_ONLY
        data = await self.request(
            "GET",
            f"/_matrix/client/v3/rooms/{_q(room_id)}/messages",
            query=query,
            what="read the room",
        )
        chunk = _events(data.get("chunk"))
        end = data.get("end")
        return chunk, (end if isinstance(end, str) and chunk else None)

    async def display_name(self, user_id: str) -> str | None:
        """The user's display name ("" without one); None for a user the homeserver does not
        know (or does not show)."""
        try:
            profile = await self.request(
                "GET", f"/_matrix/client/v3/profile/{_q(user_id)}", what="read a profile"
            )
        except MatrixRequestError as exc:
            if exc.status in (403, 404):
                return None
            raise
        name = profile.get("displayname")
        return name if isinstance(name, str) else ""

    async def search_users(self, term: str) -> list[tuple[str, str | None]]:
        """The user directory's `(user id, display name)` for `term`."""
        found = await self.request(
            "POST",
            "/_matrix/client/v3/user_directory/search",
            body={"search_term": term, "limit": 50},
            what="search users",
        )
        users: list[tuple[str, str | None]] = []
        for result in _events(found.get("results")):
            user_id, name = result.get("user_id"), result.get("display_name")
            if isinstance(user_id, str):
                users.append((user_id, name if isinstance(name, str) else None))
        return users


def _events(value: object) -> list[dict[str, Any]]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def _q(value: str) -> str:
    return quote(value, safe="")
