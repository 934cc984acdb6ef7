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


async def recover(engine: Engine, *, limit: int = 100, timers: bool = True) -> RecoveryReport:
    """Fire due timers (unless `timers` is False), continue turns whose owner is gone (or that
    a human unblocked, or that an API process stored for a worker), and start queued input on
    idle threads; at most `limit` turns."""
    report = RecoveryReport()
    if timers:
        report.timers_fired = len(await engine.store.fire_due_timers())
        cutoff = engine.settings.tracing.prune_cutoff()
        if cutoff is not None:
            await engine.store.prune_spans(cutoff)
    if not engine.settings.run_turns:
        return report
    # Claimed in one statement: processes woken by the same notification split the work
    # instead of racing for each turn.
    for lease in await engine.store.claim_turns(
        engine.owner,
        lease_seconds=engine.settings.lease_seconds,
        limit=limit,
        skip=list(engine.active),  # running here already
    ):
        active = await engine.run_leased(lease)
        report.continued.append(lease.turn_id)
        report._active.append(active)  # pyright: ignore[reportPrivateUsage]
    for work in await engine.store.find_work(limit, kinds=("inbox",)):
        if len(report._active) >= limit:  # pyright: ignore[reportPrivateUsage]
            break
        if work.thread_id not in engine.active:
            await engine.drain(work.thread_id)
            report.drained.append(work.thread_id)
            active = engine.active.get(work.thread_id)
            if active is not None:
                report._active.append(active)  # pyright: ignore[reportPrivateUsage]
    return report
