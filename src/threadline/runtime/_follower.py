"""Following a turn that runs in another process: its events come from the stored log, woken
by the store's notifications when it sends them, else by a poll."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ._engine_parts import TurnListener, turn_id_for_entry

if TYPE_CHECKING:
    from ._engine import Engine


def follow_turn(
    engine: Engine,
    thread_id: str,
    turn_id: str,
    after_seq: int,
    listener: TurnListener,
    *,
    take_over: bool = False,
) -> None:
    """Feed `listener` the stored events of a turn that runs in another process, from
    `after_seq` until the turn ends or pauses. With `take_over`, a turn whose process is gone
    (its lease ran out) is continued here, with `listener` attached to it."""
    listener.fed = True
    engine.spawn(_follow(engine, thread_id, turn_id, after_seq, listener, take_over))


def follow_entry(
    engine: Engine, thread_id: str, entry_id: str, after_seq: int, listener: TurnListener
) -> None:
    """Wait until a queued inbox entry becomes a turn, in this process or any other, then
    feed `listener` that turn: a turn started here gets it attached live (by the inbox's
    `drain`); any other is followed in the stored log from `after_seq`."""
    listener.fed = True
    engine.spawn(_await_entry(engine, thread_id, entry_id, after_seq, listener))


@contextlib.contextmanager
def _watching(engine: Engine, thread_id: str) -> Generator[tuple[asyncio.Event, float]]:
    """The thread's "new events stored" signal, and how long to wait for it before looking
    anyway."""
    signal = engine.event_signals.setdefault(thread_id, asyncio.Event())
    engine.followers[thread_id] = engine.followers.get(thread_id, 0) + 1
    # With notifications, polling is only the safety net for a lost one.
    interval = engine.settings.poll_interval * (20 if engine.notified else 1)
    try:
        yield signal, interval
    finally:
        engine.followers[thread_id] -= 1
        if not engine.followers[thread_id]:
            del engine.followers[thread_id], engine.event_signals[thread_id]


async def _follow(
    engine: Engine,
    thread_id: str,
    turn_id: str,
    after_seq: int,
    listener: TurnListener,
    take_over: bool,
) -> None:
    try:
        with _watching(engine, thread_id) as (signal, interval):
            await _feed(
                engine, thread_id, turn_id, after_seq, listener, signal, interval, take_over
            )
    finally:
        if listener.active is None:  # else the turn taken over here feeds it
            listener.close()


async def _await_entry(
    engine: Engine, thread_id: str, entry_id: str, after_seq: int, listener: TurnListener
) -> None:
    turn_id = turn_id_for_entry(entry_id)
    waiters = engine.inbox_waiters
    try:
        with _watching(engine, thread_id) as (signal, interval):
            while True:
                # While a start in this process runs, it may attach the listener live.
                if listener.closed or listener.active is not None:
                    return
                signal.clear()
                turn = await engine.store.get_turn(turn_id)
                if turn is None and not await _entry_waits(engine, thread_id, entry_id):
                    turn = await engine.store.get_turn(turn_id)  # it may have just started
                    if turn is None and entry_id not in engine.inbox_starting:
                        return  # the entry went without becoming a turn (thread deleted)
                if turn is not None and entry_id not in engine.inbox_starting:
                    if listener.active is not None:
                        return
                    if waiters.get(entry_id) is listener:
                        del waiters[entry_id]
                    await _feed(engine, thread_id, turn_id, after_seq, listener, signal, interval)
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(signal.wait(), interval)
    finally:
        if listener.active is None:
            if waiters.get(entry_id) is listener:
                del waiters[entry_id]
            listener.close()


async def _entry_waits(engine: Engine, thread_id: str, entry_id: str) -> bool:
    return any(e.entry_id == entry_id for e in await engine.store.list_inbox(thread_id))


async def _feed(
    engine: Engine,
    thread_id: str,
    turn_id: str,
    after_seq: int,
    listener: TurnListener,
    signal: asyncio.Event,
    interval: float,
    take_over: bool = False,
) -> None:
    while not listener.closed:
        signal.clear()
        events = await engine.store.load_events(thread_id, after_seq=after_seq)
        for event in events:
            after_seq = event.seq
            if event.turn_id == turn_id:
                listener.push(event)
                if event.is_terminal:
                    return
        if not events:
            if await _stopped(engine, thread_id, turn_id):
                # What it stored last may have landed after the read above.
                for event in await engine.store.load_events(thread_id, after_seq=after_seq):
                    if event.turn_id == turn_id:
                        listener.push(event)
                return
            if take_over and await _take_over(engine, thread_id, turn_id, after_seq, listener):
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), interval)


async def _take_over(
    engine: Engine, thread_id: str, turn_id: str, after_seq: int, listener: TurnListener
) -> bool:
    """Continue here the followed turn if its process is gone, with `listener` attached after
    the events that process stored. False while another process holds it."""
    if thread_id in engine.active or thread_id in engine.starting:
        return False  # recovery took it here: its events reach the log, followed as before
    thread = await engine.store.get_thread(thread_id)
    if thread is None or thread.active_turn_id != turn_id:
        return False
    expires = thread.lease_expires_at
    if thread.lease_owner is not None and expires is not None and expires > time.time():
        return False  # the store's clock decides; this only spares it a write per poll
    lease = await engine.store.acquire_lease(
        thread_id, turn_id, owner=engine.owner, lease_seconds=engine.settings.lease_seconds
    )
    if lease is None:
        return False
    for event in await engine.store.load_events(thread_id, after_seq=after_seq):
        if event.turn_id == turn_id and event.seq <= lease.cursor.last_event_seq:
            listener.push(event)
    await engine.run_leased(lease, listener)
    return True


async def _stopped(engine: Engine, thread_id: str, turn_id: str) -> bool:
    """Whether a turn has ended, or is paused for a human with nobody running it."""
    turn = await engine.store.get_turn(turn_id)
    if turn is None or turn.is_final:
        return True
    if turn.status != "awaiting_approval":
        return False
    thread = await engine.store.get_thread(thread_id)
    return thread is None or (thread.lease_owner is None and thread.wake_at is None)


async def listen_for_wakeups(engine: Engine, listen: Any) -> None:
    """Turn the store's notifications into wake-ups: work for the worker loop, new
    events for followers. They are hints: the store stays the source of truth."""
    notifications = listen()
    try:
        async for channel, payload in notifications:
            if channel.endswith("work"):
                engine.work_signal.set()
                continue
            thread_id = payload.split(":", 1)[0]
            targets = (
                [engine.event_signals.get(thread_id)]
                if thread_id
                else list(engine.event_signals.values())
            )  # "" = maybe missed some
            for signal in targets:
                if signal is not None:
                    signal.set()
    finally:
        await notifications.aclose()
