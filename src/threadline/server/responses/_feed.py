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
    # `live` was subscribed before the turn's first event and the turn runs in this process,
    # so it receives every event of the segment: the store is read only to fill a gap
    live_from_start: bool = False


async def replay(segment: Segment, translator: Translator) -> list[WireEvent]:
    """Translate what the store holds of the segment now; the translator ends only if the
    segment has."""
    out = translator.start()
    async for events in _stored(segment, translator, segment.after_seq):
        out += events
    return out


async def follow(
    segment: Segment, translator: Translator, *, tick: float = _MAX_CHECK
) -> AsyncGenerator[list[WireEvent] | None]:
    """Translate the segment until it ends, yielding Responses events as they happen, as few
    lists as the events' arrival allows, and None after each quiet interval, at least every
    `tick` seconds (so that the caller can send keep-alives). Raises `ClientTooSlow` if the
    live subscription overflowed."""
    state = _Cursor(last=segment.after_seq, longest=min(tick, _MAX_CHECK))
    live = segment.live
    out = translator.start()
    read_store = live is None or not segment.live_from_start
    try:
        while not translator.done:
            if read_store:
                async for events in _stored(segment, translator, state.last, state):
                    out += events
                    if len(out) >= _PAGE:
                        yield out
                        out = []
                if translator.done:
                    break
                if await _paused_at(segment, state.last):
                    out += translator.finish_paused()
                    break
            read_store = True
            if live is None or live.closed:
                if out:
                    yield out
                    out = []
                if live is not None and live.overflowed:
                    raise ClientTooSlow
                await asyncio.sleep(state.wait)
                state.backoff()
                yield None
                continue
            async for events in _live(segment, live, translator, state, out):
                yield events
            out = []
            if live.overflowed:
                raise ClientTooSlow
        if out:
            yield out
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
    """The stored events after `after`, a list per page read."""
    last = after
    while not translator.done:
        page = await segment.thread.events(after_seq=last, limit=_PAGE)
        out: list[WireEvent] = []
        for event in page:
            if translator.ends_before(event):
                out += translator.finish_paused()
                break
            last = event.seq
            if cursor is not None:
                cursor.last, cursor.open_run = last, None
            out += translator.feed(event)
            if translator.done:
                break
        at_end = len(page) < _PAGE
        if at_end and cursor is None and not translator.done and await _paused_at(segment, last):
            out += translator.finish_paused()
        if out:
            yield out
        if at_end:
            return


async def _live(
    segment: Segment,
    live: Subscription,
    translator: Translator,
    cursor: _Cursor,
    out: list[WireEvent],
) -> AsyncIterator[list[WireEvent] | None]:
    """Live events while they follow on from the cursor, after `out`: a list per burst (the
    events the subscription holds at once, so that they are written together); returns on a
    gap, a quiet interval or the end of the subscription."""
    while not translator.done:
        event = _ready(live)
        if event is None:
            if out:
                yield out
                out = []
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
                break  # a gap: what is missing is read from the store
            continue
        if event.seq != cursor.open_run and translator.ends_before(event):
            out += translator.finish_paused()
            break
        cursor.last = event.seq
        cursor.open_run = event.seq if event.is_delta else None
        out += translator.feed(event)
        if translator.done:
            await _stored_through(segment, event.seq)
        elif len(out) >= _PAGE:
            yield out
            out = []
    if out:
        yield out


def _ready(live: Subscription) -> Event | None:
    """The subscription's next event if it holds one already, else None, without waiting.
    Its `__anext__` returns at once when it has an event; when it would wait instead, the
    step is closed, which leaves the subscription as it was."""
    step = live.__anext__()
    try:
        step.send(None)
    except StopIteration as stop:
        return stop.value
    except StopAsyncIteration:
        return None
    step.close()
    return None


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
