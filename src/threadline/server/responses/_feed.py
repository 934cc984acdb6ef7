"""The events of one response's segment, from the stored log and, while the turn runs, from a
live subscription: stored events first, live ones as long as they follow on without a gap
(a stream that joins mid-step waits for the step's commit), and the turn's pause detected
from the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from threadline import Subscription, Thread
from threadline.store import Store
from threadline.types import Event

from ._adapter import Translator, WireEvent

_PAGE = 500
_FIRST_CHECK = 0.05  # seconds of silence before the store is asked whether the turn paused
_MAX_CHECK = 1.0
_STORE_WAIT = 10.0  # at most this long for the commit of a turn's last live event


class ClientTooSlow(Exception):
    """The stream's reader fell further behind than its buffer allows."""


@dataclass(kw_only=True)
class Segment:
    """Where a response's events come from."""

    thread: Thread
    store: Store
    turn_id: str
    after_seq: int
    live: Subscription | None = None  # subscribed before the segment started, if following


async def replay(segment: Segment, translator: Translator) -> list[WireEvent]:
    """Translate what the store holds of the segment now; the translator ends only if the
    segment has."""
    out = translator.start()
    last = segment.after_seq
    async for events in _stored(segment, translator, last):
        out += events
    return out


async def follow(
    segment: Segment, translator: Translator, *, tick: float = _MAX_CHECK
) -> AsyncGenerator[list[WireEvent] | None]:
    """Translate the segment until it ends, yielding Responses events as they happen and None
    after each quiet interval, at least every `tick` seconds (so that the caller can send
    keep-alives). Raises `ClientTooSlow` if the live subscription overflowed."""
    yield translator.start()
    state = _Cursor(last=segment.after_seq, longest=min(tick, _MAX_CHECK))
    live = segment.live
    try:
        while not translator.done:
            async for events in _stored(segment, translator, state.last, state):
                yield events
            if translator.done:
                return
            if await _paused_at(segment, state.last):
                yield translator.finish_paused()
                return
            if live is None or live.closed:
                if live is not None and live.overflowed:
                    raise ClientTooSlow
                await asyncio.sleep(state.wait)
                state.backoff()
                yield None
                continue
            async for events in _live(segment, live, translator, state):
                yield events
            if live.overflowed:
                raise ClientTooSlow
    finally:
        if live is not None:
            live.close()


@dataclass(kw_only=True)
class _Cursor:
    last: int  # the highest thread event seq translated
    open_run: int | None = None  # the seq of a live delta run still streaming
    wait: float = _FIRST_CHECK
    longest: float = _MAX_CHECK

    def backoff(self) -> None:
        self.wait = min(self.wait * 2, self.longest)


async def _stored(
    segment: Segment, translator: Translator, after: int, cursor: _Cursor | None = None
) -> AsyncIterator[list[WireEvent]]:
    last = after
    while not translator.done:
        page = await segment.thread.events(after_seq=last, limit=_PAGE)
        for event in page:
            if translator.ends_before(event):
                yield translator.finish_paused()
                return
            last = event.seq
            if cursor is not None:
                cursor.last, cursor.open_run = last, None
            events = translator.feed(event)
            if events:
                yield events
            if translator.done:
                return
        if len(page) < _PAGE:
            if cursor is None and not translator.done and await _paused_at(segment, last):
                yield translator.finish_paused()
            return


async def _live(
    segment: Segment, live: Subscription, translator: Translator, cursor: _Cursor
) -> AsyncIterator[list[WireEvent] | None]:
    """Live events while they follow on from the cursor; returns on a gap, a quiet interval
    or the end of the subscription."""
    while not translator.done:
        try:
            async with asyncio.timeout(cursor.wait):
                event = await live.__anext__()
        except TimeoutError:
            cursor.backoff()
            yield None
            return
        except StopAsyncIteration:
            return
        cursor.wait = _FIRST_CHECK
        if not _follows(event, cursor):
            if event.seq > cursor.last:
                return  # a gap: what is missing is read from the store
            continue
        if event.seq != cursor.open_run and translator.ends_before(event):
            yield translator.finish_paused()
            return
        cursor.last = event.seq
        cursor.open_run = event.seq if event.is_delta else None
        events = translator.feed(event)
        if translator.done:
            await _stored_through(segment, event.seq)
        if events:
            yield events


def _follows(event: Event, cursor: _Cursor) -> bool:
    if event.is_delta and event.seq == cursor.open_run:
        return True
    return event.seq == cursor.last + 1


async def _stored_through(segment: Segment, seq: int) -> None:
    """Wait until the store holds the event `seq` (live events are published just before
    their commit), so that a client reading right after the end finds everything."""
    deadline = asyncio.get_running_loop().time() + _STORE_WAIT
    while (await segment.thread.reload()).last_event_seq < seq:
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.005)


async def _paused_at(segment: Segment, last: int) -> bool:
    """Whether the turn waits for its caller and the log ends at `last`."""
    turn = await segment.store.get_turn(segment.turn_id)
    if turn is None or turn.status != "awaiting_approval":
        return False
    record = await segment.thread.reload()
    return record.last_event_seq <= last
