"""Schema version 6, the data part: the turns, items, tool call states and events of every
thread, read in the version-5 shape (rows keyed by the thread's id, events stored one per row,
ids as text) and written in the compact one (rows keyed by the thread's number, ids packed,
call states on their call items, the log as blocks; see `_event_log`).

It runs inside the migration's transaction, after the new tables (`turns_v6`, `items_v6`,
`events_v6`) are created and before the old ones are dropped. Statements name tables `{s}.x`;
each store's migration renders that for its schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

import orjson

from threadline.types import Event, Item, TurnRecord, Usage, payload_call_id, payload_from_dict

from . import _codec as codec
from . import _event_log as log
from ._event_log import Ending, WriteContext
from ._sql import Op, many, marks, rows

_V5_TURN = (
    "turn_id, thread_id, number, status, input, sender, client_key, usage, steps, error, "
    "created_at, updated_at, completed_at, cancel_requested, options, running_seconds"
)
_V5_ITEM = "thread_id, seq, item_id, turn_id, type, status, content, created_at"
_V5_ITEM_REFERENCE = '{"$item":1}'  # how version 5 stored an item_completed event's params
_FINAL = ("completed", "failed", "cancelled")


def copy_to_v6() -> Op[None]:
    threads = yield rows("SELECT tkey, thread_id FROM {s}.threads ORDER BY tkey")
    for tkey, thread_id in threads:
        yield from _copy_thread(tkey, thread_id)


def _copy_thread(tkey: int, thread_id: str) -> Op[None]:
    turns = [
        _v5_turn(r)
        for r in (
            yield rows(
                f"SELECT {_V5_TURN} FROM {{s}}.turns WHERE thread_id = ? ORDER BY number",
                thread_id,
            )
        )
    ]
    numbers = {t.turn_id: t.number for t in turns}
    # An item of a turn the thread does not have (only a hand-made database holds one) is
    # kept as an item of no turn.
    items = [
        _v5_item(r, numbers)
        for r in (
            yield rows(
                f"SELECT {_V5_ITEM} FROM {{s}}.items WHERE thread_id = ? ORDER BY seq", thread_id
            )
        )
    ]
    found = yield rows(
        "SELECT tool_call_id, state FROM {s}.tool_calls WHERE thread_id = ?", thread_id
    )
    states: dict[str, str] = dict(found)
    items_of: dict[str | None, list[Item]] = {}
    for item in items:
        items_of.setdefault(item.turn_id, []).append(item)
    if turns:
        # A turn's input is its first item's content, unless it started otherwise.
        yield many(
            f"INSERT INTO {{s}}.turns_v6 ({codec.TURN_INSERT}) VALUES ({marks(17)})",
            [codec.turn_row(t, tkey, _input_seq(t, items_of.get(t.turn_id, []))) for t in turns],
        )
    if items:
        yield many(
            f"INSERT INTO {{s}}.items_v6 (tkey, turn, {codec.ITEM_INSERT}) VALUES ({marks(12)})",
            [
                (
                    tkey,
                    None if i.turn_id is None else numbers[i.turn_id],
                    *codec.item_row(i, _state(i, states)),
                )
                for i in items
            ],
        )
    by_id = {i.item_id: i for i in items}
    events = [
        _v5_event(r, thread_id, by_id)
        for r in (
            yield rows(
                "SELECT seq, turn_id, item_id, type, params FROM {s}.events WHERE thread_id = ? "
                "ORDER BY seq",
                thread_id,
            )
        )
    ]
    by_turn = {t.turn_id: t for t in turns}
    blocks: list[tuple[Any, ...]] = []
    for run in log.runs(events):
        for turn_id, group in groupby(run, key=lambda e: e.turn_id):
            block = list(group)
            turn = by_turn.get(turn_id) if turn_id is not None else None
            context = WriteContext(
                items=items_of.get(turn_id, []),
                turn_id=turn_id,
                started=turn,
                ending=None if turn is None else _ending(turn),
            )
            entries = log.encode(block, context, base=0, by_id=by_id)
            if turn_id is not None and turn is None:  # a turn the thread does not have
                entries = [[e.type, dict(e.params), e.item_id, e.turn_id] for e in block]
            blocks.append(
                (tkey, block[0].seq, None if turn is None else turn.number, log.block_text(entries))
            )
    if blocks:
        yield many(
            "INSERT INTO {s}.events_v6 (tkey, seq, turn, events) VALUES (?, ?, ?, ?)", blocks
        )


def _input_seq(turn: TurnRecord, items: list[Item]) -> int | None:
    holder = codec.input_item(turn, items[:1])
    return None if holder is None else holder.seq


def _state(item: Item, states: dict[str, str]) -> str | None:
    call_id = payload_call_id(item.payload)
    return states.get(call_id) if item.type == "tool_call" and call_id is not None else None


def _ending(turn: TurnRecord) -> Ending | None:
    if turn.status not in _FINAL:
        return None
    return Ending(status=turn.status, usage=turn.usage, error=turn.error)


def _v5_turn(r: Sequence[Any]) -> TurnRecord:
    return TurnRecord(
        turn_id=r[0],
        thread_id=r[1],
        number=r[2],
        status=r[3],
        input=orjson.loads(r[4]),
        sender=r[5],
        client_key=r[6],
        usage=Usage.from_dict(orjson.loads(r[7])),
        steps=r[8],
        error=codec.loads(r[9]),
        created_at=r[10],
        updated_at=r[11],
        completed_at=r[12],
        cancel_requested=bool(r[13]),
        options=orjson.loads(r[14]),
        running_seconds=r[15],
    )


def _v5_item(r: Sequence[Any], turns: dict[str, int]) -> Item:
    return Item(
        thread_id=r[0],
        seq=r[1],
        item_id=r[2],
        turn_id=r[3] if r[3] in turns else None,
        status=r[5],
        payload=payload_from_dict(r[4], orjson.loads(r[6])),
        created_at=r[7],
    )


def _v5_event(r: Sequence[Any], thread_id: str, items: dict[str, Item]) -> Event:
    seq, turn_id, item_id, event_type, params = r
    if params == _V5_ITEM_REFERENCE and item_id in items:
        loaded: Any = {"item": items[item_id].to_dict()}
    else:
        loaded = orjson.loads(params)
    return Event(
        type=event_type,
        thread_id=thread_id,
        turn_id=turn_id,
        item_id=item_id,
        seq=seq,
        params=loaded,
    )
