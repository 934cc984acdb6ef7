"""Reading a thread's event log: its blocks (see `_event_log`), and the item and turn rows
they are rebuilt from (see `_sql`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import Event, Item

from . import _codec as codec
from . import _event_log as log
from ._codec import Decoder, Row
from ._compact import load_usage, shown_id, unpack_id
from ._event_log import TurnFacts
from ._sql import Op, one, rows

# A block on an item: item columns, then the block's first seq and its entries.
_ITEM_BLOCKS = f"SELECT {codec.ITEM_COLUMNS}, i.event_seq, i.events, i.turn FROM {codec.ITEMS}"


def load_events(thread_id: str, after_seq: int, limit: int | None) -> Op[list[Event]]:
    """The events after `after_seq`, at most `limit`. Each round reads the blocks that may
    hold the next `limit` seqs; seqs are gap-free, so one round is enough unless a caller
    stored a log with gaps."""
    thread = yield one("SELECT tkey, last_event_seq FROM {threads} WHERE thread_id = ?", thread_id)
    if thread is None:
        return []
    tkey, last_seq = thread
    found: list[Event] = []
    while after_seq < last_seq and (limit is None or len(found) < limit):
        upto = None if limit is None else after_seq + limit - len(found)
        found += yield from _window(tkey, thread_id, after_seq, upto)
        if upto is None:
            break
        after_seq = upto
    return found if limit is None else found[:limit]


# The first item of the block holding seq `after + 1`: the last block to start at or before
# it, found walking back from the thread's end (recent seqs are what followers and reconnects
# ask for).
_START = (
    "COALESCE((SELECT s.seq FROM {items} s WHERE s.tkey = ? AND s.event_seq <= ? "
    "ORDER BY s.seq DESC LIMIT 1), 0)"
)
# The first item of the first block that starts after `upto`, where its write's items begin.
_END = (
    "COALESCE((SELECT e.seq FROM {items} e WHERE e.tkey = ? AND e.seq > "
    f"{_START} AND e.event_seq > ? ORDER BY e.seq LIMIT 1), 9223372036854775807)"
)


def _window(tkey: int, thread_id: str, after: int, upto: int | None) -> Op[list[Event]]:
    """The events with `after < seq <= upto` (no upper bound if None)."""
    text = f"{_ITEM_BLOCKS} WHERE i.tkey = ? AND i.seq >= {_START}"
    params: list[Any] = [tkey, tkey, after + 1]
    if upto is not None:
        text += f" AND i.seq < {_END}"
        params += [tkey, tkey, after + 1, upto]
    found = yield rows(f"{text} ORDER BY i.seq", *params, decode=_item_blocks)
    table = yield rows(
        "SELECT seq, turn, events FROM {events} WHERE tkey = ? AND seq >= COALESCE("
        "(SELECT MAX(seq) FROM {events} WHERE tkey = ? AND seq <= ?), 0)"
        + ("" if upto is None else " AND seq <= ?")
        + " ORDER BY seq",
        tkey,
        tkey,
        after + 1,
        *(() if upto is None else (upto,)),
    )
    items: dict[int, Item] = {}
    blocks: list[tuple[int, int, int | None, Any]] = []  # first seq, base, turn, entries
    for row in found:
        item: Item = codec.item_from_row(row[:9])
        items[item.seq] = item
        if row[9] is not None:
            blocks.append((row[9], item.seq, row[11], _entries(row[10], thread_id, row[9])))
    blocks += [(r[0], 0, r[1], _entries(r[2], thread_id, r[0])) for r in table]
    numbered: list[tuple[int, int, int | None, Sequence[Any]]] = []
    for first, base, turn, block in blocks:
        number, entries = log.block_turn(block, turn)
        # A block that ends before the window may refer to items that were not read.
        if first + len(entries) > after + 1:
            numbered.append((first, base, number, entries))
    numbers = sorted({n for _, _, n, _ in numbered if n is not None})
    turns: dict[int, TurnFacts] = {}
    if numbers:
        facts: list[TurnFacts] = yield rows(
            "SELECT t.number, t.turn_id, t.input, t.sender, t.usage, t.error, u.content FROM "
            "{turns} t LEFT JOIN {items} u ON u.tkey = t.tkey AND u.seq = t.input_seq "
            "WHERE t.tkey = ? AND t.number >= ? AND t.number <= ?",
            tkey,
            numbers[0],
            numbers[-1],
            decode=_facts,
        )
        turns = {f.number: f for f in facts}
    events: list[Event] = []
    for first, base, number, entries in numbered:
        try:
            events += log.decode(
                entries,
                first,
                thread_id=thread_id,
                base=base,
                turn=None if number is None else turns[number],
                items=items,
            )
        except log.UNREADABLE:
            raise log.corrupt(thread_id, first) from None
    events.sort(key=lambda e: e.seq)
    return [e for e in events if e.seq > after and (upto is None or e.seq <= upto)]


def _entries(text: str, thread_id: str, first_seq: int) -> Sequence[Any]:
    try:
        return log.block_entries(text)
    except (ValueError, AttributeError):
        raise log.corrupt(thread_id, first_seq) from None


def _turn_facts(row: Row) -> TurnFacts:
    return TurnFacts(
        number=row[0],
        turn_id=unpack_id("turn", row[1]),
        input=codec.turn_input(row[2], row[6]),
        sender=row[3],
        usage=load_usage(row[4]),
        error=codec.loads(row[5]),
    )


_facts = Decoder("turns", lambda r: shown_id("turn", r[1]), _turn_facts)
# Rows read as they are: only the items among them are decoded, by `item_from_row`.
_item_blocks = Decoder("items", lambda r: shown_id("item", r[2]), lambda r: r)
