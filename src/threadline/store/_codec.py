"""Rows <-> records. Shared by every SQL store so that both store the same JSON, and read
what they cannot decode the same way."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import orjson

from threadline.types import (
    CorruptDataError,
    InboxEntry,
    InvalidInputError,
    Item,
    ItemFields,
    StoredItems,
    ThreadRecord,
    TimerRecord,
    TurnRecord,
    UserMessage,
    part_to_dict,
    payload_call_id,
)
from threadline.types import check_text as check_value

from ._compact import (
    ITEM_STATUSES,
    ITEM_TYPES,
    STATE_CODES,
    STATUS_CODES,
    TOOL_STATES,
    TYPE_CODES,
    code_of,
    content_from_store,
    content_to_store,
    dump_usage,
    load_usage,
    pack_id,
    shown_id,
    unpack_id,
)
from ._writes import ItemQuery


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:  # e.g. a lone surrogate, which no store can keep
        raise InvalidInputError(f"the value cannot be stored as JSON: {exc}") from None


def check_text(**fields: str | None) -> None:
    """Refuse plain text that a store cannot keep exactly: PostgreSQL's `text` cannot hold NUL
    and UTF-8 cannot encode a lone surrogate. Every store checks what it writes here, so the same
    input fails the same way on each. The message names the field, never its value."""
    for name, value in fields.items():
        if value is not None:
            check_value(value, name)


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


Row = tuple[Any, ...]
T = TypeVar("T")

# What reading a row that threadline did not write can raise: invalid JSON (a ValueError), a
# missing or mistyped field, an unknown item type, a value the records refuse.
_UNREADABLE = (ValueError, TypeError, LookupError, AttributeError, InvalidInputError)


class Decoder(Generic[T]):
    """Reads the rows of one table into records. A row it cannot read raises
    `CorruptDataError` naming the table and the row, never what the row holds."""

    def __init__(
        self, table: str, row_id: Callable[[Row], object], decode: Callable[[Row], T]
    ) -> None:
        self.table = table
        self._row_id = row_id
        self._decode = decode

    def __call__(self, row: Row, /) -> T:
        try:
            return self._decode(row)
        except _UNREADABLE as exc:
            reason = (
                "holds invalid JSON"
                if isinstance(exc, orjson.JSONDecodeError)
                else f"is not what threadline stores ({type(exc).__name__})"
            )
            # Not chained: the driver's and pydantic's messages quote the content.
            raise self.corrupt(row, reason) from None

    def corrupt(self, row: Row, reason: str) -> CorruptDataError:
        """The error for `row` (whose text values may be undecoded bytes) and what is wrong."""
        shown = str(self._row_id(row))
        return CorruptDataError(
            f"the {self.table} row {shown[:100]} cannot be read: it {reason}. The database was "
            "changed outside threadline or is damaged: restore it from a backup, or delete "
            "the row",
            table=self.table,
            row_id=shown[:100],
        )


THREAD_COLUMNS = (
    "thread_id, key, user_id, resource_id, agent, mode, status, parent_id, state, "
    "metadata, created_at, updated_at, active_turn_id, last_item_seq, "
    "last_event_seq, turn_count, lease_owner, lease_epoch, lease_expires_at, "
    "wake_at, reference_id, parent_turn_id"
)
THREAD_PLACEHOLDERS = ", ".join("?" * 22)


def check_thread(t: ThreadRecord) -> None:
    check_text(
        thread_id=t.thread_id,
        key=t.key,
        user_id=t.user_id,
        resource_id=t.resource_id,
        agent=t.agent,
        mode=t.mode,
        status=t.status,
        parent_id=t.parent_id,
        reference_id=t.reference_id,
        parent_turn_id=t.parent_turn_id,
        active_turn_id=t.active_turn_id,
        lease_owner=t.lease_owner,
    )


def thread_row(t: ThreadRecord) -> tuple[Any, ...]:
    check_thread(t)
    return (
        t.thread_id,
        t.key,
        t.user_id,
        t.resource_id,
        t.agent,
        t.mode,
        t.status,
        t.parent_id,
        None if t.state is None else dumps(t.state),
        dumps(t.metadata),
        t.created_at,
        t.updated_at,
        t.active_turn_id,
        t.last_item_seq,
        t.last_event_seq,
        t.turn_count,
        t.lease_owner,
        t.lease_epoch,
        t.lease_expires_at,
        t.wake_at,
        t.reference_id,
        t.parent_turn_id,
    )


def _thread_record(r: Row) -> ThreadRecord:
    return ThreadRecord(
        thread_id=r[0],
        key=r[1],
        user_id=r[2],
        resource_id=r[3],
        agent=r[4],
        mode=r[5],
        status=r[6],
        parent_id=r[7],
        state=loads(r[8]),
        metadata=loads(r[9]),
        created_at=r[10],
        updated_at=r[11],
        active_turn_id=r[12],
        last_item_seq=r[13],
        last_event_seq=r[14],
        turn_count=r[15],
        lease_owner=r[16],
        lease_epoch=r[17],
        lease_expires_at=r[18],
        wake_at=r[19],
        reference_id=r[20],
        parent_turn_id=r[21],
    )


def text_of(value: object) -> object:
    """A text column's value for an error message, read as bytes if it is not UTF-8."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


thread_from_row = Decoder("threads", lambda r: text_of(r[0]), _thread_record)


# A turn row is read with its thread's id, and with the content of the user item that holds
# its input when the row does not repeat it (`input_seq`): `FROM TURNS`.
TURN_COLUMNS = (
    "t.turn_id, th.thread_id, t.number, t.status, t.input, t.sender, t.client_key, t.usage, "
    "t.steps, t.error, t.created_at, t.updated_at, t.completed_at, t.cancel_requested, "
    "t.options, t.running_seconds, u.content"
)
TURNS = (
    "{turns} t JOIN {threads} th ON th.tkey = t.tkey "
    "LEFT JOIN {items} u ON u.tkey = t.tkey AND u.seq = t.input_seq"
)
TURN_INSERT = (
    "tkey, number, turn_id, status, input, input_seq, sender, client_key, usage, steps, error, "
    "created_at, updated_at, completed_at, cancel_requested, options, running_seconds"
)


def check_turn(t: TurnRecord) -> None:
    check_text(
        turn_id=t.turn_id,
        thread_id=t.thread_id,
        status=t.status,
        sender=t.sender,
        client_key=t.client_key,
    )


def turn_key(turn_id: str) -> bytes:
    return pack_id("turn", turn_id)


def item_key(item_id: str) -> bytes:
    return pack_id("item", item_id)


def input_item(turn: TurnRecord, items: Sequence[Item]) -> Item | None:
    """The item among `items` whose content is the turn's input, if one is: then the turn row
    refers to it rather than repeating it."""
    for item in reversed(items):
        payload = item.payload
        if item.turn_id == turn.turn_id and isinstance(payload, UserMessage):
            if dumps(turn.input) == dumps([part_to_dict(p) for p in payload.content]):
                return item
            return None
    return None


def turn_row(t: TurnRecord, tkey: int, input_seq: int | None = None) -> tuple[Any, ...]:
    """The values of `TURN_INSERT`. `input_seq`: the item holding the input (`input_item`)."""
    check_turn(t)
    return (
        tkey,
        t.number,
        turn_key(t.turn_id),
        t.status,
        dumps(t.input) if input_seq is None else None,
        input_seq,
        t.sender,
        t.client_key,
        dump_usage(t.usage),
        t.steps,
        None if t.error is None else dumps(t.error),
        t.created_at,
        t.updated_at,
        t.completed_at,
        int(t.cancel_requested),
        dumps(t.options),
        t.running_seconds,
    )


def turn_input(stored: str | None, item_content: str | None) -> Any:
    """A turn's input: as its row holds it, or the parts of the user item it refers to."""
    if stored is not None:
        return loads(stored)
    if item_content is None:
        raise ValueError("a turn refers to an input item it does not have")
    payload = content_from_store("user_message", orjson.loads(item_content), None)
    if not isinstance(payload, UserMessage):
        raise TypeError("a turn's input item is a user message")
    return [part_to_dict(p) for p in payload.content]


def _turn_record(r: Row) -> TurnRecord:
    return TurnRecord(
        turn_id=unpack_id("turn", r[0]),
        thread_id=r[1],
        number=r[2],
        status=r[3],
        input=turn_input(r[4], r[16]),
        sender=r[5],
        client_key=r[6],
        usage=load_usage(r[7]),
        steps=r[8],
        error=loads(r[9]),
        created_at=r[10],
        updated_at=r[11],
        completed_at=r[12],
        cancel_requested=bool(r[13]),
        options=loads(r[14]),
        running_seconds=r[15],
    )


turn_from_row = Decoder("turns", lambda r: shown_id("turn", r[0]), _turn_record)


# An item row is read with its thread's and its turn's ids (see `ITEMS`).
ITEM_COLUMNS = (
    "th.thread_id, i.seq, i.item_id, t.turn_id, i.type, i.status, i.call_id, i.content, "
    "i.created_at"
)
ITEMS = (
    "{items} i JOIN {threads} th ON th.tkey = i.tkey "
    "LEFT JOIN {turns} t ON t.tkey = i.tkey AND t.number = i.turn"
)
# Written after `tkey` and `turn`, which the statement finds from the thread.
ITEM_INSERT = (
    "seq, item_id, type, status, call_id, tool_state, content, created_at, event_seq, events"
)


def item_row(
    i: Item,
    tool_state: str | None = None,
    event_seq: int | None = None,
    events: str | None = None,
) -> tuple[Any, ...]:
    """The values of `ITEM_INSERT`: the item, its call's state, the block of events its
    write keeps on it."""
    payload = i.payload
    call_id = payload_call_id(payload)
    check_text(
        thread_id=i.thread_id,
        item_id=i.item_id,
        turn_id=i.turn_id,
        type=i.type,
        status=i.status,
        call_id=call_id,
    )
    return (
        i.seq,
        item_key(i.item_id),
        code_of(TYPE_CODES, i.type, "item type"),
        code_of(STATUS_CODES, i.status, "item status"),
        call_id,
        None if tool_state is None else code_of(STATE_CODES, tool_state, "tool call state"),
        dumps(content_to_store(payload, call_id)),
        i.created_at,
        event_seq,
        events,
    )


class _ItemDecoder(StoredItems, Decoder[Item]):
    """Items that decode their row on first use: a thread's history is loaded whole, and most
    of it is only handed on (to a model request, to a count). A row it cannot read raises
    `CorruptDataError` when its item is first used. Called as a `StoredItems`: no frame of its
    own for each row."""

    def __init__(self, read: Decoder[ItemFields]) -> None:
        StoredItems.__init__(self, read)
        Decoder.__init__(self, read.table, read._row_id, read)  # pyright: ignore[reportPrivateUsage]


def _item_fields(r: Row) -> ItemFields:
    return (
        unpack_id("item", r[2]),
        r[0],
        None if r[3] is None else unpack_id("turn", r[3]),
        r[1],
        ITEM_STATUSES[r[5]],  # pyright: ignore[reportReturnType]
        content_from_store(ITEM_TYPES[r[4]], orjson.loads(r[7]), r[6]),
        r[8],
    )


item_from_row: Decoder[Item] = _ItemDecoder(
    Decoder("items", lambda r: shown_id("item", r[2]), _item_fields)
)


THREAD_ITEM_COLUMNS = "seq, item_id, turn, type, status, call_id, content, created_at"
"""What `thread_items` reads of one thread's items: not the thread (known) nor the turn id
(a number here, found in the turns read beside them)."""


def thread_items(thread_id: str, turn_ids: dict[int, bytes]) -> Decoder[Item]:
    """The decoder of rows of `THREAD_ITEM_COLUMNS` of `thread_id`, whose turns' packed ids by
    number are `turn_ids`."""
    unpacked: dict[int, str] = {}

    def turn_of(number: int) -> str:
        turn_id = unpacked.get(number)
        if turn_id is None:
            turn_id = unpacked[number] = unpack_id("turn", turn_ids[number])
        return turn_id

    def fields(r: Row) -> ItemFields:
        return (
            unpack_id("item", r[1]),
            thread_id,
            None if r[2] is None else turn_of(r[2]),
            r[0],
            ITEM_STATUSES[r[4]],  # pyright: ignore[reportReturnType]
            content_from_store(ITEM_TYPES[r[3]], orjson.loads(r[6]), r[5]),
            r[7],
        )

    return _ItemDecoder(Decoder("items", lambda r: shown_id("item", r[1]), fields))


def _tool_state(r: Row) -> tuple[str, str]:
    return r[0], TOOL_STATES[r[1]]


tool_state_from_row = Decoder("items", lambda r: text_of(r[0]), _tool_state)


def item_query(query: ItemQuery, mark: str) -> tuple[str, tuple[Any, ...]] | None:
    """The SELECT of `query` (`mark` is the dialect's placeholder), or None when it matches
    nothing. Each filter is spelled so that SQLite, which keeps no statistics, reads it
    through its index rather than walking the thread."""
    if query.thread_id is None and (query.item_ids is None or query.call_ids is not None):
        raise ValueError("an ItemQuery without thread_id finds items by item_ids only")
    if any(f is not None and not f for f in (query.item_ids, query.call_ids, query.types)):
        return None

    def among(column: str, values: Sequence[Any]) -> str:
        params.extend(values)
        return f"{column} IN ({', '.join([mark] * len(values))})"

    types = None if query.types is None else [TYPE_CODES.get(t, -1) for t in query.types]
    where: list[str] = []
    params: list[Any] = []
    if query.thread_id is not None:
        where.append(f"th.thread_id = {mark}")
        params.append(query.thread_id)
    if query.after_seq > 0:  # seqs start at 1; a bound that excludes nothing hides the indexes
        where.append(f"i.seq > {mark}")
        params.append(query.after_seq)
    if query.before_seq is not None:
        where.append(f"i.seq < {mark}")
        params.append(query.before_seq)
    if query.item_ids is not None:
        where.append(among("i.item_id", [item_key(item_id) for item_id in query.item_ids]))
    if query.call_ids is not None:
        # Whole rows are not in the (tkey, type, call_id) index; find their seqs in it.
        inner = [among("c.call_id", query.call_ids)]
        if types is not None:
            inner.append(among("c.type", types))
        where.append(
            f"i.seq IN (SELECT c.seq FROM {{items}} c WHERE c.tkey = th.tkey AND "
            f"{' AND '.join(inner)})"
        )
    elif types is not None:
        where.append(among("i.type", types))
    # A few items found by id are sorted; `ORDER BY seq` would walk the thread in seq order.
    order = "+i.seq" if query.item_ids is not None else "i.seq"
    sql = (
        f"SELECT {ITEM_COLUMNS} FROM {ITEMS} WHERE {' AND '.join(where)} "
        f"ORDER BY {order}{' DESC' if query.newest_first else ''}"
    )
    if query.limit is not None:
        sql += f" LIMIT {mark}"
        params.append(query.limit)
    return sql, tuple(params)


INBOX_COLUMNS = "entry_id, thread_id, position, input, sender, client_key, created_at, kind"


def check_inbox(e: InboxEntry) -> None:
    check_text(
        entry_id=e.entry_id,
        thread_id=e.thread_id,
        sender=e.sender,
        client_key=e.client_key,
        kind=e.kind,
    )


def inbox_row(e: InboxEntry) -> tuple[Any, ...]:
    check_inbox(e)
    return (
        e.entry_id,
        e.thread_id,
        e.position,
        dumps(e.input),
        e.sender,
        e.client_key,
        e.created_at,
        e.kind,
    )


def _inbox_record(r: Row) -> InboxEntry:
    return InboxEntry(
        entry_id=r[0],
        thread_id=r[1],
        position=r[2],
        input=loads(r[3]),
        sender=r[4],
        client_key=r[5],
        created_at=r[6],
        kind=r[7],
    )


inbox_from_row = Decoder("inbox", lambda r: text_of(r[0]), _inbox_record)


def entry_of_turn(turn: TurnRecord) -> InboxEntry:
    """The inbox entry that holds a turn's input, `turn_X`'s being `inbox_X`: the entry a
    busy thread queues the input as, and the one a queued input's turn started from."""
    return InboxEntry(
        entry_id=turn.turn_id.replace("turn_", "inbox_", 1),
        thread_id=turn.thread_id,
        position=0,
        input=turn.input,
        sender=turn.sender,
        client_key=turn.client_key,
        created_at=turn.created_at,
    )


TIMER_COLUMNS = "timer_id, thread_id, due_at, kind, input, status, created_at, fired_at"


def check_timer(t: TimerRecord) -> None:
    check_text(timer_id=t.timer_id, thread_id=t.thread_id, kind=t.kind, status=t.status)


def timer_row(t: TimerRecord) -> tuple[Any, ...]:
    check_timer(t)
    return (
        t.timer_id,
        t.thread_id,
        t.due_at,
        t.kind,
        dumps(t.input),
        t.status,
        t.created_at,
        t.fired_at,
    )


def _timer_record(r: Row) -> TimerRecord:
    return TimerRecord(
        timer_id=r[0],
        thread_id=r[1],
        due_at=r[2],
        kind=r[3],
        input=loads(r[4]),
        status=r[5],
        created_at=r[6],
        fired_at=r[7],
    )


timer_from_row = Decoder("timers", lambda r: text_of(r[0]), _timer_record)
