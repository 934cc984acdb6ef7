"""The event log, kept as one block per write, built from the rows that the write stores.

A write (the start of a turn, a step of one, items added outside a turn) stores its events as a
block: a JSON array with one entry per event, numbered on from the block's first `seq`. An event
that the write's turn or items rebuild exactly, with the functions the runtime emits it with
(`threadline.types._event_params`), is kept as a short string:

    T         turn_started of the block's turn
    S<i>      item_started of item i, announced whole; s<i>: announced with its opening content
    D<i>      the deltas of item i joined, which are its whole text; D<i>:<sizes> when several
    C<i>      item_completed of item i
    U<u>      usage_delta: the call's counters, comma-separated; U<u>/<t> when the turn's total
              differs from them
    Y<i>      system_event showing system-event item i
    A<i>      approval_requested of approval-request (or awaiting-input) item i
    R<i>      approval_resolved showing approval-response (or input-response) item i; X<i>:
              the response to a request that expired
    F, F<i>   completed, with the text of agent-message item i (or none), and the usage that
              the turn stored when it ended; E: failed, with its stored error; K<reason>:
              cancelled

Any other event is kept whole, as [type, params, item, turn]: item an item number (an int), an
id or null, and turn left out when the event belongs to the block's turn (null: to none). A
block of references only, without spaces, is kept as them joined by spaces rather than as JSON.

A block is kept on the first item its write stores (`items.event_seq`, `items.events`), item i
being the item i places after that one. A write that stores no item keeps its block in the
`events` table, where i is an item's seq. A block belongs to the turn of its first item (of its
row, in the `events` table) unless a leading number, or null, names another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import orjson

from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    CorruptDataError,
    Event,
    EventType,
    InputResponse,
    InvalidInputError,
    Item,
    SystemEvent,
    TurnRecord,
    Usage,
    approval_requested_params,
    approval_resolved_params,
    cancelled_params,
    completed_params,
    delta_extra,
    delta_params,
    delta_type,
    failed_params,
    item_completed_params,
    item_started_params,
    streamed_text,
    system_event_params,
    turn_started_params,
    usage_delta_params,
)

from ._codec import dumps
from ._compact import usage_from_values, usage_values


@dataclass(frozen=True, kw_only=True, slots=True)
class Ending:
    """How a write ends its turn, as the turn row keeps it."""

    status: str
    usage: Usage
    error: dict[str, Any] | None


@dataclass(frozen=True, kw_only=True, slots=True)
class WriteContext:
    """What a write stores besides its events: what its events may be rebuilt from."""

    items: Sequence[Item]
    turn_id: str | None  # the turn the write belongs to
    started: TurnRecord | None = None  # the turn it starts
    ending: Ending | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class TurnFacts:
    """What a block reads from the turn rows."""

    turn_id: str
    number: int
    input: Any
    sender: str | None
    usage: Usage
    error: dict[str, Any] | None


# -- writing -------------------------------------------------------------------------------------


def encode(
    events: Sequence[Event],
    context: WriteContext,
    *,
    base: int,
    by_id: Mapping[str, Item] | None = None,
) -> list[Any]:
    """The entries of a block of consecutive `events`; item i is the item of seq `base + i`.
    `by_id`: the context's items by id, if the caller has them so."""
    if by_id is None:
        by_id = {item.item_id: item for item in context.items}
    return [
        _derived(event, context, by_id, base) or _whole(event, context, by_id, base)
        for event in events
    ]


def block_text(entries: Sequence[Any], turn: int | None = None, *, header: bool = False) -> str:
    """A block as stored; `header`: led by the number of its turn."""
    if not header and all(isinstance(e, str) and " " not in e for e in entries):
        return " ".join(entries)
    return dumps([turn, *entries] if header else list(entries))


def block_entries(text: str) -> list[Any]:
    """A stored block's entries (led by its turn's number, if the block names it)."""
    if text.startswith("["):
        entries = orjson.loads(text)
        if not isinstance(entries, list):
            raise ValueError("a block is a list")
        return entries  # pyright: ignore[reportUnknownVariableType]
    entries = text.split(" ")
    if not all(entry[:1] in _REBUILD for entry in entries):
        raise ValueError("unknown block entry")
    return entries


def runs(events: Sequence[Event]) -> list[list[Event]]:
    """The events cut where their seqs are not consecutive."""
    found: list[list[Event]] = []
    for event in events:
        if found and event.seq == found[-1][-1].seq + 1:
            found[-1].append(event)
        else:
            found.append([event])
    return found


def _same(given: Any, rebuilt: Any) -> bool:
    try:
        return orjson.dumps(given) == orjson.dumps(rebuilt)
    except orjson.JSONEncodeError:
        return False


def _derived(
    event: Event, context: WriteContext, by_id: Mapping[str, Item], base: int
) -> str | None:
    params = event.params
    kind = event.type
    item = by_id.get(event.item_id) if event.item_id is not None else None
    if item is not None:
        if event.turn_id != item.turn_id:
            return None
        ref = item.seq - base
        payload = item.payload
        if kind == "item_completed":
            return f"C{ref}" if _same(params, item_completed_params(item)) else None
        if kind == "item_started":
            for mark, streams in (("S", False), ("s", True)):
                if _same(params, item_started_params(item.item_id, payload, streams=streams)):
                    return f"{mark}{ref}"
            return None
        if kind == "approval_requested" and isinstance(payload, ApprovalRequest | AwaitingInput):
            return f"A{ref}" if _same(params, approval_requested_params(payload)) else None
        if kind == delta_type(payload):
            sizes = params.get("sizes")
            if sizes is not None and not _sizes(sizes):
                return None
            rebuilt = delta_params(delta_extra(payload), streamed_text(payload), sizes)
            if not _same(params, rebuilt):
                return None
            return f"D{ref}:{encode_sizes(rebuilt['sizes'])}" if "sizes" in rebuilt else f"D{ref}"
        return None
    if event.item_id is not None or event.turn_id != context.turn_id:
        return None
    if kind == "usage_delta":
        return _usage_entry(params)
    if kind == "system_event" or kind == "approval_resolved":
        return _shown_item(kind, params, event.turn_id, context, base)
    if kind == "turn_started":
        turn = context.started
        if turn is None or turn.turn_id != event.turn_id:
            return None
        return (
            "T"
            if _same(params, turn_started_params(turn.number, turn.input, turn.sender))
            else None
        )
    return _ending_entry(kind, params, context, base)


def _shown_item(
    kind: str, params: Mapping[str, Any], turn_id: str | None, context: WriteContext, base: int
) -> str | None:
    """The entry of an event that shows an item of its write without naming it."""
    for item in context.items:
        payload = item.payload
        if item.turn_id != turn_id:
            continue
        if kind == "system_event":
            if isinstance(payload, SystemEvent) and _same(params, system_event_params(payload)):
                return f"Y{item.seq - base}"
        elif isinstance(payload, ApprovalResponse | InputResponse):
            for mark, expired in (("R", False), ("X", True)):
                if _same(params, approval_resolved_params(payload, expired=expired)):
                    return f"{mark}{item.seq - base}"
    return None


def _usage_entry(params: Mapping[str, Any]) -> str | None:
    try:
        usage, total = Usage.from_dict(params["usage"]), Usage.from_dict(params["total"])
    except (KeyError, TypeError, AttributeError):
        return None
    counted = (*usage_values(usage), *usage_values(total))
    if not all(type(n) in (int, float) or n is None for n in counted):
        return None  # counters that are not numbers are kept as they came
    if not _same(params, usage_delta_params(usage, total)):
        return None
    call, turn = _counters(usage), _counters(total)
    return f"U{call}" if turn == call else f"U{call}/{turn}"


def _ending_entry(
    kind: str, params: Mapping[str, Any], context: WriteContext, base: int
) -> str | None:
    ending = context.ending
    if ending is None or ending.status != kind:
        return None
    if kind == "completed":
        text = params.get("text")
        for item in reversed(context.items):
            payload = item.payload
            if isinstance(payload, AgentMessage) and payload.text == text:
                rebuilt = completed_params(payload.text, None, ending.usage)
                return f"F{item.seq - base}" if _same(params, rebuilt) else None
        return "F" if _same(params, completed_params("", None, ending.usage)) else None
    if kind == "failed":
        if ending.error is None:
            return None
        return "E" if _same(params, failed_params(ending.error, ending.usage)) else None
    reason = params.get("reason")
    if isinstance(reason, str) and _same(params, cancelled_params(reason, ending.usage)):
        return f"K{reason}"
    return None


def _whole(event: Event, context: WriteContext, by_id: Mapping[str, Item], base: int) -> list[Any]:
    item: int | str | None = event.item_id
    if event.item_id is not None and event.item_id in by_id:
        item = by_id[event.item_id].seq - base
    entry: list[Any] = [event.type, dict(event.params), item]
    if event.turn_id != context.turn_id:
        entry.append(event.turn_id)
    return entry


def _sizes(value: Any) -> bool:
    return isinstance(value, list) and (
        not value or (set(map(type, value)) == {int} and min(value) >= 0)  # pyright: ignore[reportUnknownArgumentType]
    )


def encode_sizes(sizes: Sequence[int]) -> str:
    """Lengths of consecutive deltas, runs of one length written `length*count`."""
    return ",".join(
        str(size) if count == 1 else f"{size}*{count}"
        for size, count in ((size, sum(1 for _ in run)) for size, run in groupby(sizes))
    )


def decode_sizes(text: str) -> list[int]:
    sizes: list[int] = []
    for part in text.split(","):
        size, _, count = part.partition("*")
        sizes += [int(size)] * (int(count) if count else 1)
    return sizes


def _counters(usage: Usage) -> str:
    return ",".join(orjson.dumps(value).decode() for value in usage_values(usage))


def _usage_of(text: str) -> Usage:
    return usage_from_values(orjson.loads(f"[{text}]"))


# -- reading -------------------------------------------------------------------------------------


def block_turn(entries: Sequence[Any], default: int | None) -> tuple[int | None, Sequence[Any]]:
    """The number of the block's turn, and its entries without the leading one naming it."""
    if entries and (entries[0] is None or type(entries[0]) is int):
        return entries[0], entries[1:]
    return default, entries


def decode(
    entries: Sequence[Any],
    first_seq: int,
    *,
    thread_id: str,
    base: int,
    turn: TurnFacts | None,
    items: Mapping[int, Item],
) -> list[Event]:
    """The events of a block (`entries` without its leading turn number, if any)."""
    events: list[Event] = []
    turn_id = None if turn is None else turn.turn_id
    for offset, entry in enumerate(entries):
        seq = first_seq + offset
        if isinstance(entry, list):
            events.append(_whole_event(entry, seq, thread_id, turn_id, base, items))  # pyright: ignore[reportUnknownArgumentType]
            continue
        if not isinstance(entry, str) or not entry:
            raise ValueError("a block entry is a string or a list")
        kind, rest = entry[0], entry[1:]
        rebuild = _REBUILD.get(kind)
        if rebuild is None:
            raise ValueError(f"unknown block entry {kind!r}")
        event_type, item, item_turn, params = rebuild(rest, base, items, turn)
        events.append(
            Event(
                type=event_type,
                thread_id=thread_id,
                turn_id=item_turn if item is not None else turn_id,
                item_id=None if item is None or event_type in _UNNAMED else item.item_id,
                seq=seq,
                params=params,
            )
        )
    return events


def _whole_event(
    entry: list[Any],
    seq: int,
    thread_id: str,
    turn_id: str | None,
    base: int,
    items: Mapping[int, Item],
) -> Event:
    event_type, params, item = entry[0], entry[1], entry[2]
    if type(item) is int:
        item = items[base + item].item_id
    if not isinstance(params, dict) or not (item is None or isinstance(item, str)):
        raise TypeError("a whole event holds params and an item id")
    return Event(
        type=event_type,
        thread_id=thread_id,
        turn_id=entry[3] if len(entry) > 3 else turn_id,
        item_id=item,
        seq=seq,
        params=params,  # pyright: ignore[reportUnknownArgumentType]
    )


Rebuilt = tuple[EventType, Item | None, str | None, dict[str, Any]]


def _item(rest: str, base: int, items: Mapping[int, Item]) -> Item:
    return items[base + int(rest)]


def _started(streams: bool) -> Callable[[str, int, Mapping[int, Item], TurnFacts | None], Rebuilt]:
    def rebuild(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
        item = _item(rest, base, items)
        params = item_started_params(item.item_id, item.payload, streams=streams)
        return "item_started", item, item.turn_id, params

    return rebuild


def _completed(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
    item = _item(rest, base, items)
    return "item_completed", item, item.turn_id, item_completed_params(item)


def _delta(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
    ref, _, sizes = rest.partition(":")
    item = _item(ref, base, items)
    event_type = delta_type(item.payload)
    if event_type is None:
        raise ValueError("a delta entry names an item that does not stream")
    params = delta_params(
        delta_extra(item.payload),
        streamed_text(item.payload),
        decode_sizes(sizes) if sizes else None,
    )
    return event_type, item, item.turn_id, params


def _requested(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
    item = _item(rest, base, items)
    if not isinstance(item.payload, ApprovalRequest | AwaitingInput):
        raise ValueError("an approval request entry names an item that is not one")
    return "approval_requested", item, item.turn_id, approval_requested_params(item.payload)


def _resolved(expired: bool) -> Callable[[str, int, Mapping[int, Item], TurnFacts | None], Rebuilt]:
    def rebuild(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
        item = _item(rest, base, items)
        if not isinstance(item.payload, ApprovalResponse | InputResponse):
            raise ValueError("an approval response entry names an item that is not one")
        params = approval_resolved_params(item.payload, expired=expired)
        return "approval_resolved", item, item.turn_id, params

    return rebuild


def _system(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
    item = _item(rest, base, items)
    if not isinstance(item.payload, SystemEvent):
        raise ValueError("a system event entry names an item that is not one")
    return "system_event", item, item.turn_id, system_event_params(item.payload)


def _of_turn(turn: TurnFacts | None) -> TurnFacts:
    if turn is None:
        raise ValueError("an entry of the turn in a block of no turn")
    return turn


def _turn_started(
    rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None
) -> Rebuilt:
    facts = _of_turn(turn)
    return "turn_started", None, None, turn_started_params(facts.number, facts.input, facts.sender)


def _usage(rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None) -> Rebuilt:
    usage, _, total = rest.partition("/")
    call = _usage_of(usage)
    return "usage_delta", None, None, usage_delta_params(call, _usage_of(total) if total else call)


def _turn_completed(
    rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None
) -> Rebuilt:
    text = ""
    if rest:
        payload = _item(rest, base, items).payload
        if not isinstance(payload, AgentMessage):
            raise ValueError("a completed entry names an item that is not an agent message")
        text = payload.text
    return "completed", None, None, completed_params(text, None, _of_turn(turn).usage)


def _turn_failed(
    rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None
) -> Rebuilt:
    facts = _of_turn(turn)
    return "failed", None, None, failed_params(facts.error, facts.usage)


def _turn_cancelled(
    rest: str, base: int, items: Mapping[int, Item], turn: TurnFacts | None
) -> Rebuilt:
    return "cancelled", None, None, cancelled_params(rest, _of_turn(turn).usage)


_REBUILD: dict[str, Callable[[str, int, Mapping[int, Item], TurnFacts | None], Rebuilt]] = {
    "T": _turn_started,
    "S": _started(False),
    "s": _started(True),
    "D": _delta,
    "C": _completed,
    "U": _usage,
    "Y": _system,
    "A": _requested,
    "R": _resolved(False),
    "X": _resolved(True),
    "F": _turn_completed,
    "E": _turn_failed,
    "K": _turn_cancelled,
}

# Events that show an item of their write without naming it.
_UNNAMED = frozenset({"system_event", "approval_resolved"})
# What reading a block that threadline did not write can raise.
UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, InvalidInputError)


def corrupt(thread_id: str, first_seq: int) -> CorruptDataError:
    row = f"{thread_id} seq {first_seq}"
    return CorruptDataError(
        f"the events row {row[:100]} cannot be read: it is not what threadline stores. The "
        "database was changed outside threadline or is damaged: restore it from a backup",
        table="events",
        row_id=row[:100],
    )
