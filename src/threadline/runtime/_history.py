from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import overload

from threadline.types import (
    DELETED_PHASE,
    DISCARD_PHASE,
    ROLLBACK_PHASE,
    SUMMARY_PHASE,
    ApprovalRequest,
    ApprovalResponse,
    Item,
    SystemEvent,
    ToolCall,
    ToolOutcome,
    ToolResult,
    UserMessage,
    derived_id,
    new_id,
)


class HistoryIndex:
    """Facts about a thread's history, kept up to date as items are appended, so that a
    request on a long thread does not rescan it."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self.calls: set[str] = set()  # every tool call id of the thread
        self.unanswered: set[str] = set()  # calls of turns (not nested ones) without a result
        self.nested = False  # the thread holds calls made by tools (`invoke_tool`)
        self.open_nested: dict[str, str] = {}  # nested call without a result -> its caller
        self.interleaved = False  # a call stored after a result while its batch was open
        self._after_result = False  # a result was stored since the open batch began
        self.orphan_results = False  # a result whose call is not in the history
        self.discarded: set[str] = set()  # turns hidden from the model
        self.deleted: set[str] = set()  # items taken out of the history
        self.rolled_back: set[str] = set()  # turns taken out of the history
        self.summarized = False
        self.standing: dict[str, ApprovalResponse] = {}  # tool name -> "always" decision
        self._approval_names: dict[str, str] = {}
        self.visible: VisibleHistory | None = None  # made by the first request that needs it
        self.add(items)

    def add(self, items: Iterable[Item]) -> None:
        for item in items:
            payload = item.payload
            if isinstance(payload, ToolCall):
                self.calls.add(payload.tool_call_id)
                if payload.parent_call_id is not None:
                    self.nested = True
                    self.open_nested[payload.tool_call_id] = payload.parent_call_id
                    continue
                if not self.unanswered:
                    self._after_result = False
                elif self._after_result:
                    self.interleaved = True
                self.unanswered.add(payload.tool_call_id)
            elif isinstance(payload, ToolResult):
                if payload.parent_call_id is not None:
                    self.open_nested.pop(payload.tool_call_id, None)
                    continue
                if payload.tool_call_id not in self.unanswered:
                    self.orphan_results = True
                self.unanswered.discard(payload.tool_call_id)
                self._after_result = True
            elif isinstance(payload, SystemEvent):
                if payload.phase == DISCARD_PHASE:
                    self.discarded.add(str(payload.data.get("turn_id")))
                elif payload.phase == DELETED_PHASE:
                    self.deleted.add(str(payload.data.get("item_id")))
                elif payload.phase == ROLLBACK_PHASE:
                    self.rolled_back.update(str(t) for t in payload.data.get("turn_ids", []))
                elif payload.phase == SUMMARY_PHASE:
                    self.summarized = True
            elif isinstance(payload, ApprovalRequest):
                self._approval_names[payload.tool_call_id] = payload.name
            elif isinstance(payload, ApprovalResponse) and payload.always:
                name = self._approval_names.get(payload.tool_call_id)
                if name is not None:
                    self.standing[name] = payload

    @property
    def plain(self) -> bool:
        """Whether the model may see the history exactly as stored."""
        return not (
            self.unanswered
            or self.orphan_results
            or self.nested
            or self.interleaved
            or self.discarded
            or self.deleted
            or self.rolled_back
        )


def repair(items: Sequence[Item]) -> list[Item]:
    """A history every provider accepts: each tool call followed by exactly one result.

    Results without a call are dropped; a call without a result gets a synthetic result saying
    its outcome is unknown. A call stored while calls before it still waited for their results
    (a call a tool queued while another call of its batch waited for a human) comes after
    those results, as an assistant step of its own. The stored thread is not changed.
    """
    calls: set[str] = set()
    answered: set[str] = set()
    interleaved = False
    open_calls: set[str] = set()
    after_result = False
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall):
            calls.add(payload.tool_call_id)
            if not open_calls:
                after_result = False
            elif after_result:
                interleaved = True
            open_calls.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            answered.add(payload.tool_call_id)
            open_calls.discard(payload.tool_call_id)
            after_result = True
    if calls == answered and not interleaved:
        return list(items)
    repaired: list[Item] = []
    seen_results: set[str] = set()
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolResult):
            if payload.tool_call_id not in calls or payload.tool_call_id in seen_results:
                continue
            seen_results.add(payload.tool_call_id)
        repaired.append(item)
    # A synthetic result goes right after the last call of its batch.
    missing = calls - answered
    if missing:
        out: list[Item] = []
        pending: list[Item] = []
        for item in repaired:
            payload = item.payload
            if pending and not isinstance(payload, ToolCall | ToolResult):
                out.extend(pending)
                pending = []
            out.append(item)
            if isinstance(payload, ToolCall) and payload.tool_call_id in missing:
                pending.append(
                    synthetic_result(item, "unknown", "No result was recorded for this call.")
                )
        out.extend(pending)
        repaired = out
    return in_call_order(repaired) if interleaved else repaired


def in_call_order(items: Sequence[Item]) -> list[Item]:
    """`items` with each batch of calls followed by all of its results before anything else:
    what came after a batch's first result while some of its calls were still open (a call a
    tool queued, its result, an approval) moves after the batch's last result. Every call
    must have a result (see `repair`)."""
    ordered: list[Item] = []
    waiting = deque(items)
    held: list[Item] = []
    open_calls: set[str] = set()
    in_results = False  # the open batch's results have begun
    while waiting:
        item = waiting.popleft()
        payload = item.payload
        if isinstance(payload, ToolResult) and payload.tool_call_id in open_calls:
            ordered.append(item)
            open_calls.discard(payload.tool_call_id)
            in_results = True
            if not open_calls:
                in_results = False
                waiting.extendleft(reversed(held))
                held = []
        elif open_calls and in_results:
            held.append(item)
        else:
            ordered.append(item)
            if isinstance(payload, ToolCall):
                open_calls.add(payload.tool_call_id)
    ordered.extend(held)
    return ordered


def synthetic_result(call_item: Item, outcome: ToolOutcome, message: str, *, seq: int = 0) -> Item:
    call = call_item.payload
    assert isinstance(call, ToolCall)
    return Item(
        item_id=new_id("item"),
        thread_id=call_item.thread_id,
        turn_id=call_item.turn_id,
        seq=seq,
        status="completed",
        created_at=call_item.created_at,
        payload=ToolResult(
            tool_call_id=call.tool_call_id,
            name=call.name,
            output=f"Error: {message}",
            outcome=outcome,
        ),
    )


def result_item_id(call_item_id: str) -> str:
    """The item id of a call's one result, the same in every process: a result written after
    a hand-over or an interruption completes the item that announced the tool's run."""
    return derived_id(call_item_id, "result")


def unanswered_calls(items: Sequence[Item]) -> list[Item]:
    """The calls of the turn (made by the model, or queued by a tool) without a result. Calls
    made by a tool (`invoke_tool`) are part of their caller's run, never run by the turn."""
    answered = {i.payload.tool_call_id for i in items if isinstance(i.payload, ToolResult)}
    return [
        i
        for i in items
        if isinstance(i.payload, ToolCall)
        and i.payload.parent_call_id is None
        and i.payload.tool_call_id not in answered
    ]


def is_nested(item: Item) -> bool:
    """Whether the item is a call made by a tool (`invoke_tool`), or its result."""
    payload = item.payload
    return isinstance(payload, ToolCall | ToolResult) and payload.parent_call_id is not None


def _is_edit(item: Item) -> bool:
    """A marker that changes what the model sees, not something it should read."""
    payload = item.payload
    return isinstance(payload, SystemEvent) and payload.phase in (
        DISCARD_PHASE,
        DELETED_PHASE,
        ROLLBACK_PHASE,
    )


class HistoryCache:
    """The histories of recently run threads (with their index), so a turn does not reload
    its whole thread. Items are append-only, so a cached history is extended with the items
    stored after it. Bounded: at most `max_threads` threads are kept.
    """

    def __init__(self, max_threads: int = 128) -> None:
        self._max = max_threads
        self._entries: OrderedDict[str, tuple[list[Item], HistoryIndex]] = OrderedDict()

    def take(self, thread_id: str) -> tuple[list[Item], HistoryIndex] | None:
        return self._entries.pop(thread_id, None)

    def put(self, thread_id: str, items: list[Item], index: HistoryIndex) -> None:
        if self._max <= 0:
            return
        self._entries[thread_id] = (items, index)
        self._entries.move_to_end(thread_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def drop(self, thread_id: str) -> None:
        self._entries.pop(thread_id, None)


class HistoryView(Sequence[Item]):
    """The first `len(items)` items of a history list that only grows: a model request's view
    of its thread, taken without copying the thread (appends after it stay out of it).

        request_items = HistoryView(ctx.history)
    """

    __slots__ = ("_items", "_length")

    def __init__(self, items: list[Item]) -> None:
        self._items = items
        self._length = len(items)

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        if isinstance(index, slice):
            return self._items[slice(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("history index out of range")
        return self._items[index]

    def __iter__(self) -> Iterator[Item]:
        return islice(self._items, self._length)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(other) == self._length and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are not hashable

    def __repr__(self) -> str:
        return repr(list(self))


class VisibleHistory:
    """What `visible_history` gives for a history that only grows, kept up to date from one
    request to the next: on a long thread with hidden items (a discarded turn, a deleted
    item) a request looks at the items added since the last one, not at the whole thread.
    Rebuilt when an edit arrives, since it may hide items shown before."""

    def __init__(self) -> None:
        self._edits = (0, 0, 0)  # sizes of the index's edit sets (which only grow)
        self._reset()

    def _reset(self) -> None:
        self._items: list[Item] = []
        self._seen = 0  # items of the history looked at
        self._unanswered: set[str] = set()
        self._broken = False  # a result without its call, or a second one
        self._interleaved = False  # a call after a result of a batch still open
        self._after_result = False

    def update(self, history: Sequence[Item], index: HistoryIndex) -> Sequence[Item]:
        edits = (len(index.discarded), len(index.deleted), len(index.rolled_back))
        if edits != self._edits or len(history) < self._seen:
            self._reset()
            self._edits = edits
        for item in islice(history, self._seen, None):
            if _shown(item, index):
                self._add(item)
        self._seen = len(history)
        if self._unanswered or self._broken or self._interleaved:
            return repair(self._items)
        return HistoryView(self._items)

    def _add(self, item: Item) -> None:
        payload = item.payload
        if isinstance(payload, ToolCall):
            if not self._unanswered:
                self._after_result = False
            elif self._after_result:
                self._interleaved = True
            self._unanswered.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            if payload.tool_call_id not in self._unanswered:
                self._broken = True
            self._unanswered.discard(payload.tool_call_id)
            self._after_result = True
        self._items.append(item)


def request_history(history: list[Item], index: HistoryIndex) -> Sequence[Item]:
    """`visible_history(history, index)` for the next model request, without copying or
    filtering the whole thread again: a view of `history` when the model may see it as
    stored, else the visible items `index` keeps up to date."""
    if index.plain:
        return HistoryView(history)
    if index.visible is None:
        index.visible = VisibleHistory()
    return index.visible.update(history, index)


def _shown(item: Item, edits: HistoryIndex) -> bool:
    """Whether `visible_history` keeps `item`, given the thread's edits."""
    return (
        not _is_edit(item)
        and not is_nested(item)
        and item.item_id not in edits.deleted
        and item.turn_id not in edits.rolled_back
        and (item.turn_id not in edits.discarded or isinstance(item.payload, UserMessage))
    )


def visible_history(items: Sequence[Item], index: HistoryIndex | None = None) -> list[Item]:
    """The history a model may see: deleted items, rolled-back turns and turns discarded on
    error left out (a discarded turn's user message kept), then repaired. With the
    history's index, a plain history is returned at once."""
    if index is not None and index.plain:
        return list(items)
    edits = HistoryIndex(i for i in items if isinstance(i.payload, SystemEvent) or is_nested(i))
    if edits.deleted or edits.rolled_back or edits.discarded or edits.nested:
        items = [i for i in items if _shown(i, edits)]
    return repair(items)
