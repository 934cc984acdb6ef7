from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from threadline._redaction import StreamHold, redact, registry
from threadline.types import (
    DELTA_EVENT_TYPES,
    Event,
    EventType,
    Item,
    Payload,
    delta_params,
    item_completed_params,
    item_started_params,
    new_id,
)

Publish = Callable[[Event], None]


class _DeltaRun:
    """Consecutive deltas of one item: one seq live, one coalesced event in the log."""

    __slots__ = ("extra", "hold", "item_id", "parts", "seq", "type")

    def __init__(
        self, event_type: EventType, item_id: str | None, seq: int, extra: Mapping[str, Any]
    ) -> None:
        self.type: EventType = event_type
        self.item_id = item_id
        self.seq = seq
        self.extra = extra
        self.parts: list[str] = []
        self.hold: StreamHold | None = None  # once a secret is registered: text kept back

    def coalesced(self) -> dict[str, Any]:
        """The stored params: the deltas joined, with their lengths (see `delta_params`)."""
        return delta_params(self.extra, "".join(self.parts), [len(p) for p in self.parts])


class TurnEvents:
    """Numbers a turn's events, hands them to live listeners at once, and keeps the ones not
    yet stored until the next commit takes them (deltas coalesced)."""

    def __init__(
        self, *, thread_id: str, turn_id: str, last_seq: int, publish: Publish | None = None
    ) -> None:
        self.thread_id = thread_id
        self.turn_id = turn_id
        self.last_seq = last_seq
        self._publish = publish
        self._held: list[Event] = []  # emitted before a publisher was attached
        self._deferred: list[Event] = []  # published once the write storing them is done
        self._unstored: list[Event | _DeltaRun] = []
        self._run: _DeltaRun | None = None

    def attach(self, publish: Publish) -> None:
        """Start publishing; events emitted so far are published first."""
        self._publish = publish
        held, self._held = self._held, []
        for event in held:
            publish(event)

    def emit(
        self,
        event_type: EventType,
        *,
        item_id: str | None = None,
        params: Mapping[str, Any] | None = None,
        raw: Any = None,
        defer: bool = False,
    ) -> Event | None:
        """Number an event and publish it (with `defer`, only at `publish_deferred()`).

        Once a secret is registered, params are redacted, and a delta's text that could
        begin a secret waits for the next delta (or the end of its run): None when nothing
        of the delta can be shown yet."""
        params = params or {}
        if event_type in DELTA_EVENT_TYPES:
            run = self._run
            if run is None or run.type != event_type or run.item_id != item_id:
                if run is not None:
                    self._end_run()
                self.last_seq += 1
                extra = redact({k: v for k, v in params.items() if k != "delta"})
                run = self._run = _DeltaRun(event_type, item_id, self.last_seq, extra)
                self._unstored.append(run)
            delta: str = params["delta"]
            if run.hold is not None or registry.current is not None:
                if run.hold is None:
                    run.hold = StreamHold()
                shown = run.hold.feed(delta)
                if not shown:
                    return None
                if shown != delta:  # the provider's own event holds the text as it was
                    raw = None
                params, delta = delta_params(run.extra, shown), shown
            run.parts.append(delta)
            event = Event(
                type=event_type,
                thread_id=self.thread_id,
                turn_id=self.turn_id,
                item_id=item_id,
                seq=run.seq,
                params=params,
                original=raw,
            )
        else:
            if self._run is not None:
                self._end_run()
            if registry.current is not None:
                params, raw = redact(params), redact(raw)
            self.last_seq += 1
            event = Event(
                type=event_type,
                thread_id=self.thread_id,
                turn_id=self.turn_id,
                item_id=item_id,
                seq=self.last_seq,
                params=params,
                original=raw,
            )
            self._unstored.append(event)
        if defer:
            self._deferred.append(event)
        elif self._publish is None:
            self._held.append(event)
        else:
            self._publish(event)
        return event

    def _publish_now(self, event: Event) -> None:
        if self._publish is None:
            self._held.append(event)
        else:
            self._publish(event)

    def _end_run(self) -> None:
        """End the current run of deltas: show the text it kept back, redacted."""
        run, self._run = self._run, None
        if run is None or run.hold is None:
            return
        rest = run.hold.flush()
        if rest:
            run.parts.append(rest)
            self._publish_now(
                Event(
                    type=run.type,
                    thread_id=self.thread_id,
                    turn_id=self.turn_id,
                    item_id=run.item_id,
                    seq=run.seq,
                    params=delta_params(run.extra, rest),
                )
            )

    def publish_deferred(self) -> None:
        """Publish the deferred events: their write is durable now."""
        deferred, self._deferred = self._deferred, []
        for event in deferred:
            if self._publish is None:
                self._held.append(event)
            else:
                self._publish(event)

    def drop_deferred(self) -> None:
        """Forget the deferred events: their write failed, so they did not happen."""
        self._deferred = []

    def take_unstored(self) -> list[Event]:
        """The events to write with the next commit, deltas coalesced, in seq order."""
        self._end_run()
        taken, self._unstored = self._unstored, []
        return [
            e
            if isinstance(e, Event)
            else Event(
                type=e.type,
                thread_id=self.thread_id,
                turn_id=self.turn_id,
                item_id=e.item_id,
                seq=e.seq,
                params=e.coalesced(),
            )
            for e in taken
        ]


def loose_items(thread_id: str, last_item_seq: int, payloads: Sequence[Payload]) -> list[Item]:
    """Completed items of no turn (added to the history, or imported), numbered after
    `last_item_seq`; no secret value is kept in them."""
    now = time.time()
    return [
        Item(
            item_id=new_id("item"),
            thread_id=thread_id,
            turn_id=None,
            seq=last_item_seq + n,
            status="completed",
            payload=redact(payload),
            created_at=now,
        )
        for n, payload in enumerate(payloads, start=1)
    ]


def item_events(items: Sequence[Item], last_seq: int) -> list[Event]:
    """The `item_started` and `item_completed` events of items stored whole, outside any
    turn's streaming (added to the history, or imported), numbered after `last_seq`."""
    events: list[Event] = []
    seq = last_seq
    for item in items:
        pair: tuple[tuple[EventType, dict[str, Any]], ...] = (
            ("item_started", item_started_params(item.item_id, item.payload, streams=False)),
            ("item_completed", item_completed_params(item)),
        )
        for event_type, params in pair:
            seq += 1
            events.append(
                Event(
                    type=event_type,
                    thread_id=item.thread_id,
                    turn_id=item.turn_id,
                    item_id=item.item_id,
                    seq=seq,
                    params=params,
                )
            )
    return events
