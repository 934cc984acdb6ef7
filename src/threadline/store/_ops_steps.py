"""Step records: one row per model call or tool batch of a turn, written in the transaction
that stores the step's items (`write_turn`), read by thread and turn.

A row is keyed by its thread's number, its turn's number in the thread and its own number in
the turn, and written as an upsert on that key: a tool batch that paused and finished after a
resume, or a model step run again after a crash, ends as one row. A row keeps the `step_id`
and `started_at` it was first written with. Kinds and statuses are stored as codes and ids
packed, as items store theirs: a turn writes a row per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import StepRecord

from . import _codec as codec
from ._compact import code_of, dump_usage, load_usage, pack_id, unpack_id
from ._sql import Op, many, marks, rows

_KINDS = ("model", "tools")
_STATUSES = ("completed", "paused", "failed", "cancelled")
_KIND_CODES = {name: code for code, name in enumerate(_KINDS)}
_STATUS_CODES = {name: code for code, name in enumerate(_STATUSES)}
_COLUMNS = ("number", "kind", "status", "started_at", "ended_at", "step_id", "usage", "item_ids")
STEP_COLUMNS = (*_COLUMNS, "data")  # every column of a step row but its thread and turn
_INSERT = ", ".join(STEP_COLUMNS)


def write_steps(thread_id: str, steps: Sequence[StepRecord]) -> Op[None]:
    """Store `steps` for the thread's active turn (its latest), replacing rows of the same
    numbers. Only the statement of a turn's write: the write's fence has checked the lease."""
    yield many(
        f"INSERT INTO {{steps}} (tkey, turn, {_INSERT}) SELECT tkey, turn_count, {marks(9)} "
        "FROM {threads} WHERE thread_id = ? ON CONFLICT (tkey, turn, number) DO UPDATE SET "
        "status = excluded.status, ended_at = excluded.ended_at, usage = excluded.usage, "
        "item_ids = excluded.item_ids, data = excluded.data",
        [_row(step, thread_id) for step in steps],
    )


def _row(step: StepRecord, thread_id: str) -> tuple[Any, ...]:
    codec.check_text(step_id=step.step_id)
    return (
        step.number,
        code_of(_KIND_CODES, step.kind, "step kind"),
        code_of(_STATUS_CODES, step.status, "step status"),
        step.started_at,
        step.ended_at,
        pack_id("step", step.step_id),
        dump_usage(step.usage),
        _pack_items(step.item_ids),
        codec.dumps(step.data),
        thread_id,
    )


def _pack_items(item_ids: Sequence[str]) -> bytes:
    """Each id packed (17 bytes for an id threadline made), after its length."""
    packed = [codec.item_key(i) for i in item_ids]
    return b"".join(len(p).to_bytes(2, "big") + p for p in packed)


def _unpack_items(data: bytes) -> tuple[str, ...]:
    ids: list[str] = []
    at = 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 2], "big")
        ids.append(unpack_id("item", data[at + 2 : at + 2 + size]))
        at += 2 + size
    return tuple(ids)


def list_steps(thread_id: str, turn_id: str) -> Op[list[StepRecord]]:
    """The steps of the thread's turn `turn_id`, by number; empty for a turn of no such
    thread."""
    decode = codec.Decoder(
        "steps", lambda r: r[0], lambda r: _record(r, thread_id=thread_id, turn_id=turn_id)
    )
    found: list[StepRecord] = yield rows(
        f"SELECT {', '.join(f's.{c}' for c in (*_COLUMNS, 'data'))} FROM {{steps}} s "
        "JOIN {turns} t ON t.tkey = s.tkey AND t.number = s.turn "
        "WHERE t.turn_id = ? AND t.tkey = (SELECT tkey FROM {threads} WHERE thread_id = ?) "
        "ORDER BY s.number",
        codec.turn_key(turn_id),
        thread_id,
        decode=decode,
    )
    return found


def _record(r: tuple[Any, ...], *, thread_id: str, turn_id: str) -> StepRecord:
    return StepRecord(
        step_id=unpack_id("step", bytes(r[5])),
        thread_id=thread_id,
        turn_id=turn_id,
        number=r[0],
        kind=_KINDS[r[1]],
        status=_STATUSES[r[2]],
        started_at=r[3],
        ended_at=r[4],
        usage=load_usage(r[6]),
        item_ids=_unpack_items(bytes(r[7])),
        data=codec.loads(r[8]),
    )
