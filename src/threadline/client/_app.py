"""`connect()`: a threadline app served elsewhere, with the same `threads` API."""

from __future__ import annotations

from typing import Any

from threadline import Agent, ThreadList
from threadline.server.codex._wire import thread_from_wire
from threadline.types import ThreadStatus

from ._connection import Connection
from ._stream import RemoteSubscription, RemoteTurnStream, Router, route
from ._thread import RemoteThread


class RemoteThreadList(ThreadList[RemoteThread]):
    """One page of the server's threads, newest first; the same sequence as `ThreadList`."""


class RemoteThreadManager:
    """Creates, finds and lists the server's threads: `app.threads`."""

    def __init__(self, app: RemoteThreadline) -> None:
        self._app = app

    async def _thread(self, method: str, **params: Any) -> RemoteThread:
        data = await self._app.call(f"threadline/threads/{method}", **params)
        return RemoteThread(self._app, thread_from_wire(data["thread"]))

    async def start(
        self,
        *,
        user_id: str | None = None,
        agent: str | Agent | None = None,
        metadata: dict[str, Any] | None = None,
        key: str | None = None,
        resource_id: str | None = None,
        mode: str | None = None,
    ) -> RemoteThread:
        """Create a thread. With `key`, return the thread of its owner that has that key, if
        there is one (on a server with API keys, the owner is the connection's key)."""
        return await self._thread(
            "start",
            userId=user_id,
            agent=_agent_name(agent),
            metadata=metadata,
            key=key,
            resourceId=resource_id,
            mode=mode,
        )

    async def resume(self, thread_id: str) -> RemoteThread:
        """A handle on an existing thread. Raises `NotFoundError`."""
        return await self._thread("resume", threadId=thread_id)

    async def list(
        self,
        *,
        user_id: str | None = None,
        status: ThreadStatus | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> RemoteThreadList:
        """Threads newest first; archived ones only when `status="archived"`."""
        data = await self._app.call(
            "threadline/threads/list", userId=user_id, status=status, limit=limit, cursor=cursor
        )
        return RemoteThreadList(
            threads=[RemoteThread(self._app, thread_from_wire(t)) for t in data["threads"]],
            next_cursor=data.get("nextCursor"),
        )

    async def get_or_create(
        self,
        *,
        user_id: str,
        agent: str | Agent | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> RemoteThread:
        """The user's most recent thread of that agent that is not archived, else a new one."""
        return await self._thread(
            "getOrCreate", userId=user_id, agent=_agent_name(agent), metadata=metadata
        )

    async def fork(
        self, thread_id: str, *, upto_seq: int | None = None, metadata: dict[str, Any] | None = None
    ) -> RemoteThread:
        """A new thread whose history copies the visible history of `thread_id`."""
        return await self._thread("fork", threadId=thread_id, uptoSeq=upto_seq, metadata=metadata)


def _agent_name(agent: str | Agent | None) -> str | None:
    return agent.name if isinstance(agent, Agent) else agent


class RemoteThreadline:
    """A threadline app on a server, reached over the app-server WebSocket. It connects on
    first use and reconnects by itself; streams resume where they were.

        async with tl.connect("ws://127.0.0.1:8321/codex", api_key=key) as app:
            thread = await app.threads.start(user_id="me")
            print((await thread.run("Hello")).text)
    """

    def __init__(
        self, url: str, *, api_key: str | None = None, reconnect_timeout: float = 30.0
    ) -> None:
        self.connection = Connection(url, api_key=api_key, reconnect_timeout=reconnect_timeout)
        self.threads = RemoteThreadManager(self)
        self._runs: Router = {}
        self._subscriptions: Router = {}
        self._open_subscriptions: list[RemoteSubscription] = []
        self.connection.on("threadline/run/event", lambda p: route(self._runs, p))
        self.connection.on("threadline/event", lambda p: route(self._subscriptions, p))

    async def call(self, method: str, **params: Any) -> Any:
        """Call a server method with the given params (None values are left out)."""
        return await self.connection.request(
            method, {key: value for key, value in params.items() if value is not None}
        )

    def stream(self, method: str, params: dict[str, Any]) -> RemoteTurnStream:
        return RemoteTurnStream(
            self.connection, method, {k: v for k, v in params.items() if v is not None}, self._runs
        )

    def subscription(self, thread_id: str, buffer: int) -> RemoteSubscription:
        subscription = RemoteSubscription(self.connection, thread_id, buffer, self._subscriptions)
        self._open_subscriptions.append(subscription)
        return subscription

    async def open(self) -> None:
        await self.connection.open()

    async def close(self) -> None:
        """Close the connection; turns started through it keep running on the server."""
        for subscription in self._open_subscriptions:
            subscription.close()
        self._open_subscriptions.clear()
        await self.connection.close()

    async def __aenter__(self) -> RemoteThreadline:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def connect(
    url: str, *, api_key: str | None = None, reconnect_timeout: float = 30.0
) -> RemoteThreadline:
    """A remote threadline app at `url` (the app-server WebSocket of `threadline serve`).

    Args:
        url: e.g. `ws://127.0.0.1:8321/codex`.
        api_key: sent as a bearer token.
        reconnect_timeout: how long to keep trying after the connection drops before calls
            fail with `ConnectionLostError`.

        async with tl.connect("ws://127.0.0.1:8321/codex") as app:
            thread = await app.threads.get_or_create(user_id="me")
    """
    return RemoteThreadline(url, api_key=api_key, reconnect_timeout=reconnect_timeout)
