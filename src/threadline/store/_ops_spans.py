"""Trace spans: the spans a turn stores as such (its executions), written in the
transaction of the turn's write (`write_turn`), read by thread and turn, pruned by age.

A row is keyed by its thread's number, its turn's number in the thread and its span id, and
written as an upsert on that key: a span stored open (a turn's `thread.run` while it
pauses) is stored again when it ends, and keeps the start it was first written with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.types import InvalidInputError, SpanEvent, SpanRecord

from . import _codec as codec
from ._sql import Op, count, many, marks, rows

_STATUSES = ("unset", "ok", "error")
SPAN_COLUMNS = (  # every column of a span row but its thread and turn
    "span_id",
    "parent_id",
    "trace_id",
    "name",
    "started_at",
    "ended_at",
    "status",
    "attributes",
    "events",
)


def write_spans(thread_id: str, spans: Sequence[SpanRecord]) -> Op[None]:
    """Store `spans` for the thread's active turn (its latest), replacing rows of the same
    span ids. Only the statement of a turn's write: the write's fence has checked the lease."""
    yield many(
        f"INSERT INTO {{spans}} (tkey, turn, {', '.join(SPAN_COLUMNS)}) "
        f"SELECT tkey, turn_count, {marks(len(SPAN_COLUMNS))} "
        "FROM {threads} WHERE thread_id = ? ON CONFLICT (tkey, turn, span_id) DO UPDATE SET "
        "ended_at = excluded.ended_at, status = excluded.status, "
        "attributes = excluded.attributes, events = excluded.events",
        [_row(span, thread_id) for span in spans],
    )


def _row(span: SpanRecord, thread_id: str) -> tuple[Any, ...]:
    codec.check_text(span_id=span.span_id, trace_id=span.trace_id, name=span.name)
    if span.status not in _STATUSES:
        raise InvalidInputError("unknown span status", status=str(span.status)[:20])
    return (
        span.span_id,
        span.parent_id,
        span.trace_id,
        span.name,
        span.start,
        span.end,
        span.status,
        codec.dumps(span.attributes),
        codec.dumps([e.to_dict() for e in span.events]),
        thread_id,
    )


def list_spans(thread_id: str, turn_id: str) -> Op[list[SpanRecord]]:
    """The stored spans of the thread's turn `turn_id`, by start; empty for a turn of no
    such thread."""
    decode = codec.Decoder(
        "spans", lambda r: r[0], lambda r: _record(r, thread_id=thread_id, turn_id=turn_id)
    )
    found: list[SpanRecord] = yield rows(
        f"SELECT {', '.join(f's.{c}' for c in SPAN_COLUMNS)} FROM {{spans}} s "
        "JOIN {turns} t ON t.tkey = s.tkey AND t.number = s.turn "
        "WHERE t.turn_id = ? AND t.tkey = (SELECT tkey FROM {threads} WHERE thread_id = ?) "
        "ORDER BY s.started_at, s.span_id",
        codec.turn_key(turn_id),
        thread_id,
        decode=decode,
    )
    return found


def prune_spans(ended_before: float) -> Op[int]:
    """Delete the spans that ended before `ended_before`; how many were deleted."""
    deleted: int = yield count("DELETE FROM {spans} WHERE ended_at < ?", ended_before)
    return deleted


def _record(r: tuple[Any, ...], *, thread_id: str, turn_id: str) -> SpanRecord:
    return SpanRecord(
        span_id=r[0],
        parent_id=r[1],
        trace_id=r[2],
        thread_id=thread_id,
        turn_id=turn_id,
        name=r[3],
        start=r[4],
        end=r[5],
        status=r[6],
        attributes=codec.loads(r[7]),
        events=tuple(
            SpanEvent(name=e["name"], at=e["at"], attributes=e["attributes"])
            for e in codec.loads(r[8])
        ),
    )
