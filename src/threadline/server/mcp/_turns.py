"""The turns that MCP tool calls start or continue, each driven by a task of the server
rather than of the call: a client that goes away, or a server that stops serving MCP,
never interrupts a turn (closing the app hands it back for recovery)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from threadline import TurnResult, TurnStream
from threadline._logging import log_failure
from threadline.types import Event, LeaseLost, ThreadlineError, TurnCancelledError, TurnFailedError

logger = logging.getLogger("threadline.server")

_CLOSE_SECONDS = 10.0

Progress = Callable[[int, str], Awaitable[None]]
"""Told of each item a turn completes: how many so far, and what the item was."""


class TurnUnavailable(ThreadlineError):
    """The server stopped before the turn it drove ended; recovery continues the turn."""

    code = "unavailable"


@dataclass(eq=False)
class Followed:
    """A turn driven on a server task: its completed items as they come, then its result."""

    items: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue[Event | None])
    result: asyncio.Future[TurnResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    async def follow(self, progress: Progress) -> TurnResult:
        """Report each completed item to `progress`, then return the turn's result (a failed or
        cancelled turn's too); raise the error that kept the turn from starting."""
        count = 0
        while (event := await self.items.get()) is not None:
            count += 1
            await progress(count, _describe(event))
        return await self.result


class TurnTasks:
    """The server's turn tasks; `close` waits for them once the app has handed back (or
    finished) its turns."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def drive(self, stream: TurnStream) -> Followed:
        """Iterate `stream` to its end on a task of its own."""
        followed = Followed()
        # The caller may be gone by the time the turn ends: nobody reads the result then.
        followed.result.add_done_callback(_consume)
        task = asyncio.get_running_loop().create_task(_drive(stream, followed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return followed

    async def close(self) -> None:
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_SECONDS)
        for task in tasks:
            if not task.done():
                task.cancel()
        if tasks:
            await asyncio.wait(tasks)


async def _drive(stream: TurnStream, followed: Followed) -> None:
    try:
        async for event in stream:
            if event.type == "item_completed":
                followed.items.put_nowait(event)
        followed.result.set_result(stream.result)
    except (TurnFailedError, TurnCancelledError):
        followed.result.set_result(stream.result)
    except LeaseLost:
        followed.result.set_exception(_unavailable())
    except ThreadlineError as exc:
        followed.result.set_exception(exc)
    except Exception as exc:
        log_failure(logger, "an MCP tool call's turn stopped unexpectedly", exc=exc)
        followed.result.set_exception(exc)
    except BaseException:
        followed.result.set_exception(_unavailable())
        raise
    finally:
        if not followed.result.done():
            followed.result.set_exception(_unavailable())
        followed.items.put_nowait(None)


def _unavailable() -> TurnUnavailable:
    return TurnUnavailable(
        "the server stopped before the turn ended; it continues when the server is back: "
        "read the thread to see how it went"
    )


def _consume(future: asyncio.Future[TurnResult]) -> None:
    if not future.cancelled():
        future.exception()


def _describe(event: Event) -> str:
    item = event.params.get("item")
    if not isinstance(item, dict):
        return "item completed"
    kind = str(item.get("type", "item"))
    content = item.get("content")
    name = content.get("name") if isinstance(content, dict) else None
    return f"{kind} {name}" if isinstance(name, str) else kind
