"""A threadline app served elsewhere, with the same API as in-process: `connect(url)`
returns an app whose `threads` start, resume and list threads that run on the server, with
the same events, results and errors. It speaks the app-server WebSocket protocol of
`threadline serve` and reconnects by itself, resuming streams where they were.

    async with connect("ws://127.0.0.1:8321/codex", api_key=key) as app:
        thread = await app.threads.start(user_id="me")
        async for event in thread.run_streamed("Hello"):
            ...
"""

from ._app import RemoteThreadline, RemoteThreadList, RemoteThreadManager, connect
from ._errors import ConnectionLostError, RemoteError
from ._stream import RemoteSubscription, RemoteTurnStream
from ._thread import RemoteThread

__all__ = [
    "ConnectionLostError",
    "RemoteError",
    "RemoteSubscription",
    "RemoteThread",
    "RemoteThreadList",
    "RemoteThreadManager",
    "RemoteThreadline",
    "RemoteTurnStream",
    "connect",
]
