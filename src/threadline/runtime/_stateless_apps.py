"""The in-memory apps that stateless runs use: one per agent object per event loop.

Building an app (its SQLite database in memory, the schema, the engine) costs several times a
turn, so a run borrows the app of its agent rather than building one. Runs stay apart: each
has a thread of its own, deleted before its result is returned (a paused run's thread lives
on in its checkpoint). Two agent objects with the same name get two apps. The apps of an
event loop are closed when that loop shuts its async generators down, as `asyncio.run` does
at its end; past `_MAX_IDLE` apps, the least recently used idle one is closed at once.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ._agent import Agent
from ._app import Threadline

_MAX_IDLE = 16
# Nobody else can reach an in-memory database: the lease guards against no other process.
_LEASE_SECONDS = 3600.0


@dataclass
class _Pooled:
    agent: Agent  # held, so that the id keying it is never another agent's
    app: Threadline
    runs: int = 0


class _LoopApps:
    def __init__(self) -> None:
        self.apps: dict[int, _Pooled] = {}
        self.closer: AsyncIterator[None] | None = None
        self.lock = asyncio.Lock()  # two first runs of one agent at once build one app

    async def borrow(self, agent: Agent) -> _Pooled:
        pooled = self.apps.pop(id(agent), None)
        if pooled is None:
            async with self.lock:
                pooled = self.apps.pop(id(agent), None)
                if pooled is None:
                    app = Threadline(
                        agents=[agent],
                        store=":memory:",
                        lease_seconds=_LEASE_SECONDS,
                        shutdown_grace=0,
                    )
                    await app.open()
                    pooled = _Pooled(agent=agent, app=app)
                if self.closer is None:
                    self.closer = self._close_with_loop()
                    await anext(self.closer)
        self.apps[id(agent)] = pooled  # most recently used last
        pooled.runs += 1
        return pooled

    async def trim(self) -> None:
        idle = [key for key, pooled in self.apps.items() if pooled.runs == 0]
        for key in idle[: max(0, len(idle) - _MAX_IDLE)]:
            await self.apps.pop(key).app.close()

    async def _close_with_loop(self) -> AsyncIterator[None]:
        # An async generator left suspended: the loop closes it on shutdown_asyncgens(), the
        # one hook asyncio gives for the end of a loop, and it closes the apps then.
        try:
            yield
        finally:
            apps = list(self.apps.values())
            self.apps.clear()
            for pooled in apps:
                await pooled.app.close()


_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopApps] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def borrowed_app(agent: Agent) -> AsyncGenerator[Threadline]:
    """The in-memory app of `agent` on the running loop, for the time of one run."""
    loop = asyncio.get_running_loop()
    apps = _BY_LOOP.get(loop)
    if apps is None:
        apps = _BY_LOOP[loop] = _LoopApps()
    pooled = await apps.borrow(agent)
    try:
        yield pooled.app
    finally:
        pooled.runs -= 1
        await apps.trim()
