"""Keeping the leases of the turns this process runs: renewed by a heartbeat; a turn whose
lease was lost stops without writing, and an interrupt asked by another process arrives."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from threadline._logging import log_failure

if TYPE_CHECKING:
    from ._engine import Engine

logger = logging.getLogger("threadline.runtime")


async def keep_leases(engine: Engine) -> None:
    # Also how fast an interrupt from another process is noticed: at most a second.
    interval = min(engine.settings.lease_seconds / 3, 1.0)
    while True:
        await asyncio.sleep(interval)
        if not engine.active:
            continue
        # Only turns that ran before the renewal was asked for can be judged by it: one
        # that starts meanwhile (on the same thread, with a new epoch) is not in it yet.
        renewing = list(engine.active.values())
        try:
            renewal = await engine.store.renew_leases(engine.owner, engine.settings.lease_seconds)
        except Exception as exc:
            log_failure(
                logger, "could not renew leases; will retry", exc=exc, level=logging.WARNING
            )
            continue
        for active in renewing:
            if active.task is None or active.task.done():
                continue
            # A turn whose ending write freed the lease before the renewal looked is not
            # lost: that write was fenced by the lease and says itself if it was.
            if active.ending or engine.active.get(active.thread_id) is not active:
                continue
            if renewal.held.get(active.thread_id) != active.epoch:
                logger.warning("lost the lease on thread %s", active.thread_id)
                active.lose_lease()
            elif active.thread_id in renewal.cancel_requested:
                active.task.cancel()
