from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ._engine import Engine
from ._engine_parts import ActiveTurn


@dataclass(kw_only=True)
class RecoveryReport:
    """What one recovery pass did."""

    continued: list[str] = field(default_factory=list[str])  # turn ids now running here
    drained: list[str] = field(default_factory=list[str])  # threads whose inbox started
    timers_fired: int = 0
    _active: list[ActiveTurn] = field(default_factory=list[ActiveTurn], repr=False)

    async def wait(self) -> None:
        """Wait until every turn this pass continued has ended or paused again."""
        tasks = [a.task for a in self._active if a.task is not None]
        if tasks:
            await asyncio.wait(tasks)


async def recover(engine: Engine, *, limit: int = 100) -> RecoveryReport:
    """Fire due timers, continue turns whose owner is gone (or that a human unblocked, or
    that an API process stored for a worker), and start queued input on idle threads; at
    most `limit` turns."""
    report = RecoveryReport()
    report.timers_fired = len(await engine.store.fire_due_timers())
    if not engine.settings.run_turns:
        return report
    for work in await engine.store.find_work(limit):
        if len(report._active) >= limit:  # pyright: ignore[reportPrivateUsage]
            break
        if work.kind == "inbox":
            if work.thread_id not in engine.active:
                await engine.drain(work.thread_id)
                report.drained.append(work.thread_id)
                active = engine.active.get(work.thread_id)
                if active is not None:
                    report._active.append(active)  # pyright: ignore[reportPrivateUsage]
            continue
        assert work.turn_id is not None
        active = await engine.continue_turn(work.thread_id, work.turn_id, None)
        if active is not None:
            report.continued.append(work.turn_id)
            report._active.append(active)  # pyright: ignore[reportPrivateUsage]
    return report
