from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from ._types import CodeResult


class CodeRun:
    """A run of `run_code`: await it for its `CodeResult`; `terminate(reason)` stops it (its
    status is then `terminated`, with the reason as its error)."""

    def __init__(self, start: Callable[[CodeRun], Coroutine[Any, Any, CodeResult]]) -> None:
        self.reason: str | None = None  # why it was terminated, if it was
        self._task = asyncio.ensure_future(start(self))

    def __await__(self) -> Generator[Any, None, CodeResult]:
        return self._task.__await__()

    @property
    def done(self) -> bool:
        return self._task.done()

    def terminate(self, reason: str = "terminated") -> None:
        """Stop the code now, wherever it is (a host call it waits for is cancelled too)."""
        if not self._task.done() and self.reason is None:
            self.reason = reason
            self._task.cancel()
