"""What a request's `input` adds to a thread. The input is the conversation as the client sees
it (the Responses API's semantics): the items the thread holds already, sent back by id or as
they were, are recognised and stored once; what follows them is new: history to import before
the turn, the user message the turn starts with, and answers to the turn's pause (function call
outputs, approval decisions).

An input item is recognised by key when the thread holds its id, when it is a function call
whose call_id, name and arguments a stored call has, or an output or a decision for a call the
thread holds the answer to. Messages carry no key: one is recognised by its content at the place
the thread holds it: before the last item recognised by key, or, for a client that sends the
conversation back without ids, in a run of messages that ends the thread's history and is
followed by something new (a message equal to an earlier one, sent alone, is a new message).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from threadline.types import (
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    Item,
    Payload,
    ToolCall,
    ToolResult,
    UserMessage,
)

from .._errors import APIError, invalid
from ._input import Call, Decision, InputEntry, Message, Output, Reference, Summary
from ._profile import OPENAI
from ._wire_items import ItemMapper


@dataclass(kw_only=True)
class InputPlan:
    """What one request's input asks for."""

    new: list[Payload] = field(default_factory=list[Payload])  # to store, in order
    outputs: dict[str, str] = field(default_factory=dict[str, str])  # waiting call id -> output
    decisions: list[Decision] = field(default_factory=list[Decision])

    @property
    def resolves(self) -> bool:
        """Whether the input answers the thread's paused turn."""
        return bool(self.outputs or self.decisions)


class Conversation:
    """A thread's visible items, and the keys a client can send them back by."""

    def __init__(self, items: Sequence[Item]) -> None:
        mapper = ItemMapper(items, frozenset(), OPENAI)
        self.items = [i for i in mapper.items if i.type != "system_event"]
        self.positions = {item.item_id: n for n, item in enumerate(self.items)}
        self.client_call_id = mapper.client_call_id
        self.calls: dict[str, list[int]] = {}  # the client's call id -> its calls' positions
        self.results: dict[str, int] = {}  # the client's call id -> its result's position
        self.decided: dict[str, int] = {}  # approval request item id -> decision's position
        requests: dict[str, str] = {}  # tool call id -> approval request item id
        for n, item in enumerate(self.items):
            payload = item.payload
            if isinstance(payload, ToolCall):
                self.calls.setdefault(self.client_call_id(payload.tool_call_id), []).append(n)
            elif isinstance(payload, ToolResult):
                self.results[self.client_call_id(payload.tool_call_id)] = n
            elif isinstance(payload, ApprovalRequest):
                requests[payload.tool_call_id] = item.item_id
            elif isinstance(payload, ApprovalResponse) and payload.tool_call_id in requests:
                self.decided[requests[payload.tool_call_id]] = n

    def by_key(self, entry: InputEntry) -> int | None:
        """The position of the stored item `entry` names by a key, if any."""
        if entry.item_id is not None and entry.item_id in self.positions:
            return self.positions[entry.item_id]
        if isinstance(entry, Call):
            positions = self.calls.get(entry.call.tool_call_id, [])
            return next((n for n in positions if self.repeats(entry, self.items[n].payload)), None)
        if isinstance(entry, Output):
            return self.results.get(entry.call_id)
        if isinstance(entry, Decision):
            return self.decided.get(entry.approval_request_id)
        return None

    def find(self, entry: InputEntry, start: int) -> int | None:
        """The position of the first stored item from `start` on that `entry` repeats."""
        for n in range(start, len(self.items)):
            if self.repeats(entry, self.items[n].payload):
                return n
        return None

    def repeats(self, entry: InputEntry, payload: Payload) -> bool:
        if isinstance(entry, Message):
            return entry.payload == _without_sender(payload)
        if isinstance(entry, Call) and isinstance(payload, ToolCall):
            return self.client_call_id(payload.tool_call_id) == entry.call.tool_call_id and (
                payload.name,
                payload.arguments,
            ) == (entry.call.name, entry.call.arguments)
        return False

    def messages_from(self, start: int) -> list[int]:
        """The positions of the stored messages from `start` on."""
        return [
            n
            for n in range(start, len(self.items))
            if isinstance(self.items[n].payload, UserMessage | AgentMessage)
        ]


def plan_input(
    entries: Sequence[InputEntry], conversation: Conversation, waiting: Collection[str]
) -> InputPlan:
    """Sort the input against the thread's items (none for a new thread); `waiting` are the
    calls whose output the thread's paused turn waits for. Raises `APIError` (400) for input
    that no conversation could have: an output without its call, a call without its output,
    new items before items the thread holds, an unknown `item_reference`."""
    keys: list[int | None] = []
    new_calls: set[str] = set()  # an output for one of these answers it, whatever is stored
    for entry in entries:
        key = conversation.by_key(entry)
        if isinstance(entry, Call) and key is None:
            new_calls.add(entry.call.tool_call_id)
        elif (
            isinstance(entry, Output)
            and entry.call_id in new_calls
            and entry.item_id not in conversation.positions
        ):
            key = None
        keys.append(key)
    last = max((n for n, key in enumerate(keys) if key is not None), default=-1)
    cursor = 0
    for entry, key in zip(entries[: last + 1], keys, strict=False):
        if key is None:
            key = _earlier(conversation, entry, cursor)
        cursor = max(cursor, key + 1) if key is not None else cursor
    tail = [e for e in entries[last + 1 :] if not _left_out(e)]
    return _sort_new(tail[_repeated_run(conversation, tail, cursor) :], waiting)


def _earlier(conversation: Conversation, entry: InputEntry, cursor: int) -> int | None:
    """Where the thread holds an entry that comes before items it holds by key."""
    if _left_out(entry):
        return None
    if isinstance(entry, Reference):
        raise _unknown_item(entry)
    found = conversation.find(entry, cursor)
    if found is None:
        raise invalid(
            f"{entry.where} is not part of this conversation, but items of it come after: send "
            "the items the conversation holds first, as they were, and new items after them",
            param=entry.where,
        )
    return found


def _repeated_run(conversation: Conversation, tail: list[InputEntry], cursor: int) -> int:
    """How many of the leading entries of `tail` repeat the messages that end the thread's
    history (0 unless they all do and something new follows)."""
    stored = conversation.messages_from(cursor)
    if not stored or len(tail) <= len(stored):
        return 0
    for entry, position in zip(tail, stored, strict=False):
        if not conversation.repeats(entry, conversation.items[position].payload):
            return 0
    return len(stored)


def _sort_new(entries: list[InputEntry], waiting: Collection[str]) -> InputPlan:
    plan = InputPlan()
    calls: dict[str, str] = {}  # the new calls' ids -> names
    unanswered: list[str] = []
    for entry in entries:
        if isinstance(entry, Message | Summary):
            plan.new.append(entry.payload)
        elif isinstance(entry, Call):
            call_id = entry.call.tool_call_id
            if call_id in calls:
                raise invalid(f"two function calls with call_id {call_id!r}", param=entry.where)
            calls[call_id] = entry.call.name
            unanswered.append(call_id)
            plan.new.append(entry.call)
        elif isinstance(entry, Output):
            call_id = entry.call_id
            if call_id in unanswered:
                unanswered.remove(call_id)
                plan.new.append(
                    ToolResult(tool_call_id=call_id, name=calls[call_id], output=entry.output)
                )
            elif call_id in waiting and call_id not in plan.outputs and call_id not in calls:
                plan.outputs[call_id] = entry.output
            elif call_id in calls or call_id in plan.outputs:
                raise invalid(f"two outputs for function call {call_id!r}", param=entry.where)
            else:
                raise invalid(
                    f"No tool call found for function call output with call_id {call_id}.",
                    param="input",
                )
        elif isinstance(entry, Decision):
            plan.decisions.append(entry)
        else:
            raise _unknown_item(entry)
    if unanswered:
        raise invalid(
            f"No tool output found for function call {unanswered[0]}.",
            param="input",
            code="missing_function_call_output",
        )
    return plan


def _left_out(entry: InputEntry) -> bool:
    """An item of this server's own making that the thread does not hold (see `Reference`)."""
    return isinstance(entry, Reference) and not entry.required


def _unknown_item(entry: InputEntry) -> APIError:
    return invalid(f"Item with id '{(entry.item_id or '')[:80]}' not found.", param="input")


def _without_sender(payload: Payload) -> Payload:
    if isinstance(payload, UserMessage) and payload.sender is not None:
        return UserMessage(content=payload.content)
    return payload
