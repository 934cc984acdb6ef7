"""Step records: one row per model call or tool batch of a turn, written in the transaction
that stores the step's items (`write_turn`), read by thread and turn.

A row is keyed by its thread's number, its turn's number in the thread and its own number in
the turn, and written as an upsert on that key: a tool batch that paused and finished after a
resume, or a model step run again after a crash, ends as one row. A row keeps the `step_id`
and `started_at` it was first written with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import StepRecord

from . import _codec as codec
from ._compact import dump_usage, load_usage
from ._sql import Op, many, marks, rows

_COLUMNS = "number, step_id, kind, status, started_at, ended_at, usage, item_ids, data"


def write_steps(thread_id: str, steps: Sequence[StepRecord]) -> Op[None]:
    """Store `steps` for the thread's active turn (its latest), replacing rows of the same
    numbers. Only the statement of a turn's write: the write's fence has checked the lease."""
    for step in steps:
        codec.check_text(step_id=step.step_id, kind=step.kind, status=step.status)
    yield many(
        f"INSERT INTO {{steps}} (tkey, turn, {_COLUMNS}) SELECT tkey, turn_count, {marks(9)} "
        "FROM {threads} WHERE thread_id = ? ON CONFLICT (tkey, turn, number) DO UPDATE SET "
        "status = excluded.status, ended_at = excluded.ended_at, usage = excluded.usage, "
        "item_ids = excluded.item_ids, data = excluded.data",
        [_row(step, thread_id) for step in steps],
    )


def _row(step: StepRecord, thread_id: str) -> tuple[Any, ...]:
    return (
        step.number,
        step.step_id,
        step.kind,
        step.status,
        step.started_at,
        step.ended_at,
        dump_usage(step.usage),
        codec.dumps(list(step.item_ids)),
        codec.dumps(step.data),
        thread_id,
    )


def list_steps(thread_id: str, turn_id: str) -> Op[list[StepRecord]]:
    """The steps of the thread's turn `turn_id`, by number; empty for a turn of no such
    thread."""
    decode = codec.Decoder(
        "steps", lambda r: r[1], lambda r: _record(r, thread_id=thread_id, turn_id=turn_id)
    )
    found: list[StepRecord] = yield rows(
        f"SELECT {', '.join('s.' + c for c in _COLUMNS.split(', '))} FROM {{steps}} s "
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
        step_id=r[1],
        thread_id=thread_id,
        turn_id=turn_id,
        number=r[0],
        kind=r[2],
        status=r[3],
        started_at=r[4],
        ended_at=r[5],
        usage=load_usage(r[6]),
        item_ids=tuple(codec.loads(r[7])),
        data=codec.loads(r[8]),
    )
