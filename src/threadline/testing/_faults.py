from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from threadline.runtime import FAULT_POINTS, FaultPoint

FaultAction = Literal[
    "raise",  # raise `InjectedFault` (an ordinary exception: the turn fails)
    "kill",  # SIGKILL this process on the spot
    "block",  # wait until `release()` (or forever): a hung process
]


class InjectedFault(Exception):
    """Raised at an armed fault point with action "raise"."""


@dataclass
class _Armed:
    action: FaultAction
    remaining: int  # hits left before the fault fires; 0 fires on the first hit
    times: int  # how many hits fire


class FaultPoints:
    """Named places in a turn that a test breaks on purpose.

        faults = FaultPoints().arm("after_tool_started", "kill")
        app = tl.Threadline(agents=[agent], faults=faults)

    `arm(point, action, after=N)` lets N hits pass first. `from_spec("point:action")` builds
    one from a command-line string, for subprocess tests. `hits` counts every point reached.
    """

    def __init__(self) -> None:
        self._armed: dict[str, _Armed] = {}
        self.hits: Counter[str] = Counter()
        self._released = asyncio.Event()

    def arm(
        self, point: FaultPoint, action: FaultAction, *, after: int = 0, times: int = 1
    ) -> FaultPoints:
        if point not in FAULT_POINTS:
            raise ValueError(f"unknown fault point {point!r}; known: {', '.join(FAULT_POINTS)}")
        if action not in ("raise", "kill", "block"):
            raise ValueError(f"unknown fault action {action!r}")
        self._armed[point] = _Armed(action=action, remaining=after, times=times)
        return self

    @classmethod
    def from_spec(cls, spec: str) -> FaultPoints:
        """`"point:action"` or `"point:action:after"`; an empty spec arms nothing."""
        faults = cls()
        if spec:
            point, action, *rest = spec.split(":")
            faults.arm(point, action, after=int(rest[0]) if rest else 0)  # type: ignore[arg-type]
        return faults

    def release(self) -> None:
        """Let every blocked point go on."""
        self._released.set()

    async def hit(self, point: FaultPoint) -> None:
        self.hits[point] += 1
        armed = self._armed.get(point)
        if armed is None or armed.times <= 0:
            return
        if armed.remaining > 0:
            armed.remaining -= 1
            return
        armed.times -= 1
        if armed.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if armed.action == "raise":
            raise InjectedFault(f"fault injected at {point}")
        await self._released.wait()
