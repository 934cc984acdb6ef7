from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from itertools import islice
from typing import overload

from threadline.types import (
    DELETED_PHASE,
    DISCARD_PHASE,
    EDITED_PHASE,
    MODEL_VISIBLE_PHASES,
    ROLLBACK_PHASE,
    SUMMARY_PHASE,
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    FilePart,
    Item,
    Payload,
    Reasoning,
    SystemEvent,
    ToolCall,
    ToolOutcome,
    ToolResult,
    UserMessage,
    derived_id,
    new_id,
    payload_from_dict,
)


class HistoryIndex:
    """Facts about a thread's history, kept up to date as items are appended, so that a
    request on a long thread does not rescan it."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self.calls: set[str] = set()  # every tool call id of the thread
        self.unanswered: set[str] = set()  # calls of turns (not nested ones) without a result
        self.nested = False  # the thread holds calls made by tools (`invoke_tool`)
        self.open_nested: dict[str, str] = {}  # nested call without a result -> its caller
        self._batch = OpenBatch()
        self.orphan_results = False  # a result whose call is not in the history
        self.discarded: set[str] = set()  # turns hidden from the model
        self.deleted: set[str] = set()  # items taken out of the history
        self.rolled_back: set[str] = set()  # turns taken out of the history
        self.summarized = False
        self.edited: dict[str, Payload] = {}  # item id -> its content as last edited
        self.edits = 0  # edit markers seen (an item may be edited more than once)
        self.standing: dict[str, ApprovalResponse] = {}  # tool name -> "always" decision
        self._approval_names: dict[str, str] = {}
        self.visible: VisibleHistory | None = None  # made by the first request that needs it
        self.attachments = False  # an input attaches a file
        self.add(items)

    def add(self, items: Iterable[Item]) -> None:
        for item in items:
            payload = item.payload
            self._batch.add(payload)
            if isinstance(payload, ToolCall):
                self.calls.add(payload.tool_call_id)
                if payload.parent_call_id is not None:
                    self.nested = True
                    self.open_nested[payload.tool_call_id] = payload.parent_call_id
                    continue
                self.unanswered.add(payload.tool_call_id)
                continue
            if isinstance(payload, ToolResult):
                if payload.parent_call_id is not None:
                    self.open_nested.pop(payload.tool_call_id, None)
                    continue
                if payload.tool_call_id not in self.unanswered:
                    self.orphan_results = True
                self.unanswered.discard(payload.tool_call_id)
                continue
            if isinstance(payload, SystemEvent):
                if payload.phase == DISCARD_PHASE:
                    self.discarded.add(str(payload.data.get("turn_id")))
                elif payload.phase == DELETED_PHASE:
                    self.deleted.add(str(payload.data.get("item_id")))
                elif payload.phase == ROLLBACK_PHASE:
                    self.rolled_back.update(str(t) for t in payload.data.get("turn_ids", []))
                elif payload.phase == SUMMARY_PHASE:
                    self.summarized = True
                elif payload.phase == EDITED_PHASE:
                    edited = edited_content(payload)
                    if edited is not None:
                        self.edited[edited[0]] = edited[1]
                        self.edits += 1
            elif isinstance(payload, UserMessage):
                if not self.attachments:
                    self.attachments = any(isinstance(p, FilePart) for p in payload.content)
            elif isinstance(payload, ApprovalRequest):
                self._approval_names[payload.tool_call_id] = payload.name
            elif isinstance(payload, ApprovalResponse) and payload.always:
                name = self._approval_names.get(payload.tool_call_id)
                if name is not None:
                    self.standing[name] = payload

    @property
    def interleaved(self) -> bool:
        """Whether something the model reads was stored while calls waited for their results
        (a message a tool injected, a call a tool queued): the model sees it after them."""
        return self._batch.interleaved

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
            or self.edited
        )


def edited_content(payload: SystemEvent) -> tuple[str, Payload] | None:
    """The item an edit marker names and its new content (None if the marker is malformed)."""
    data = payload.data
    item_id, kind, content = data.get("item_id"), data.get("type"), data.get("content")
    if not isinstance(item_id, str) or not isinstance(kind, str) or not isinstance(content, dict):
        return None
    try:
        return item_id, payload_from_dict(kind, content)  # pyright: ignore[reportUnknownArgumentType]
    except (KeyError, TypeError, ValueError):
        return None


def repair(items: Sequence[Item]) -> list[Item]:
    """A history every provider accepts: each tool call followed by exactly one result.

    Results without a call are dropped; a call without a result gets a synthetic result saying
    its outcome is unknown. A call stored while calls before it still waited for their results
    (a call a tool queued while another call of its batch waited for a human), and a message
    stored while calls waited for their results (a tool injected it), come after those
    results (see `in_call_order`). The stored thread is not changed.
    """
    calls: set[str] = set()
    answered: set[str] = set()
    batch = OpenBatch()
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall):
            calls.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            answered.add(payload.tool_call_id)
        batch.add(payload)
    interleaved = batch.interleaved
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
    what was stored while some of a batch's calls were still open, once the batch's calls were
    complete (a call a tool queued and its result, a message a tool injected, an approval),
    moves after the batch's last result. Every call must have a result (see `repair`)."""
    ordered: list[Item] = []
    waiting = deque(items)
    held: list[Item] = []
    open_calls: set[str] = set()
    batch_done = False
    while waiting:
        item = waiting.popleft()
        payload = item.payload
        if isinstance(payload, ToolResult) and payload.tool_call_id in open_calls:
            ordered.append(item)
            open_calls.discard(payload.tool_call_id)
            batch_done = True
            if not open_calls:
                waiting.extendleft(reversed(held))
                held = []
        elif open_calls and (batch_done or not isinstance(payload, ToolCall)):
            held.append(item)
            batch_done = True
        else:
            ordered.append(item)
            if isinstance(payload, ToolCall):
                if not open_calls:
                    batch_done = False
                open_calls.add(payload.tool_call_id)
    ordered.extend(held)
    return ordered


class OpenBatch:
    """Follows a history as it grows and says whether it is `interleaved`: whether something
    the model reads was stored while a batch of calls waited for results, once the batch's
    calls were complete (a result or another item came after them)."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.done = False
        self.interleaved = False

    def add(self, payload: Payload) -> None:
        if isinstance(payload, ToolCall):
            if payload.parent_call_id is not None:
                return
            if not self.open:
                self.done = False
            elif self.done:
                self.interleaved = True
            self.open.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            if payload.parent_call_id is None:
                self.open.discard(payload.tool_call_id)
                self.done = True
        elif self.open and model_reads(payload):
            self.interleaved = self.done = True


def model_reads(payload: Payload) -> bool:
    """Whether a model request shows the payload (as a message, reasoning or a notice)."""
    return isinstance(payload, UserMessage | AgentMessage | Reasoning) or (
        isinstance(payload, SystemEvent) and payload.phase in MODEL_VISIBLE_PHASES
    )


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
        EDITED_PHASE,
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
    Rebuilt when an edit arrives, since it may hide or change items shown before.

    An edited item is shown as last edited. A message stored while tool calls wait for their
    results (a tool injected it) is shown after those results: every provider wants each call
    followed by its result."""

    def __init__(self) -> None:
        self._edits = (0, 0, 0, 0)  # sizes of the index's edit sets (which only grow)
        self._reset()

    def _reset(self) -> None:
        self._items: list[Item] = []
        self._seen = 0  # items of the history looked at
        self._unanswered: set[str] = set()
        self._broken = False  # a result without its call, or a second one
        self._batch = OpenBatch()

    def update(self, history: Sequence[Item], index: HistoryIndex) -> Sequence[Item]:
        edits = (len(index.discarded), len(index.deleted), len(index.rolled_back), index.edits)
        if edits != self._edits or len(history) < self._seen:
            self._reset()
            self._edits = edits
        for item in islice(history, self._seen, None):
            if _shown(item, index):
                self._add(item, index)
        self._seen = len(history)
        if self._unanswered or self._broken or self._batch.interleaved:
            return repair(self._items)
        return HistoryView(self._items)

    def _add(self, item: Item, index: HistoryIndex) -> None:
        payload = item.payload
        edited = index.edited.get(item.item_id)
        if edited is not None and edited.type == payload.type:
            item = replace(item, payload=edited)
        if isinstance(payload, ToolCall):
            self._unanswered.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            if payload.tool_call_id not in self._unanswered:
                self._broken = True
            self._unanswered.discard(payload.tool_call_id)
        self._batch.add(payload)
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
    error left out (a discarded turn's user message kept), edited items as last edited,
    messages injected while tool calls ran after their results, then repaired. With the
    history's index, a plain history is returned at once."""
    if index is None:
        index = HistoryIndex(items)
    if index.plain:
        return list(items)
    return list(VisibleHistory().update(items, index))
