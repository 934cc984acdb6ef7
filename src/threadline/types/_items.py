from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import MISSING, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from ._content import ContentPart, TextPart, part_from_dict, part_to_dict

ItemType = Literal[
    "user_message",
    "agent_message",
    "reasoning",
    "tool_call",
    "tool_result",
    "approval_request",
    "approval_response",
    "awaiting_input",
    "input_response",
    "plan",
    "system_event",
    "subagent",
    "error",
]
ItemStatus = Literal[
    "in_progress",  # being produced (streaming, or a tool that is running)
    "completed",  # final
    "failed",  # ended by an error; content is what was produced before it
    "cancelled",  # ended by an interrupt; content is what was produced before it
]
ToolOutcome = Literal[
    "success",  # the tool returned
    "error",  # the tool raised, or its arguments were invalid
    "cancelled",  # the turn ended before the tool finished
    "denied",  # a human refused the call; the tool never ran
    "unknown",  # the tool may or may not have taken effect
]


@dataclass(frozen=True, kw_only=True, slots=True)
class UserMessage:
    type: Literal["user_message"] = "user_message"
    content: tuple[ContentPart, ...]
    sender: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentMessage:
    type: Literal["agent_message"] = "agent_message"
    text: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Reasoning:
    type: Literal["reasoning"] = "reasoning"
    text: str
    data: dict[str, Any] = field(default_factory=dict[str, Any])  # provider state to pass back


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCall:
    type: Literal["tool_call"] = "tool_call"
    tool_call_id: str
    name: str
    arguments: str  # JSON text exactly as the model produced it
    # The call whose tool made this one with `invoke_tool`; None for a call of the turn.
    # Such a nested call is part of its caller's run: the model never sees it.
    parent_call_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolResult:
    type: Literal["tool_result"] = "tool_result"
    tool_call_id: str
    name: str
    output: str  # what the model reads: JSON or plain text
    outcome: ToolOutcome = "success"
    parent_call_id: str | None = None  # as on its call: set for a nested call's result

    @property
    def is_error(self) -> bool:
        return self.outcome != "success"


SUMMARY_PHASE = "summary"  # history left out of the context window, summarised
DISCARD_PHASE = "discard"  # what an interrupted or failed turn produced, hidden from the model
DELETED_PHASE = "deleted"  # its data names an item taken out of the history
ROLLBACK_PHASE = "rollback"  # its data names turns taken out of the history
EDITED_PHASE = "edited"  # its data names an item and its new content (`update_message`)
TERMINATED_PHASE = "terminated"  # the thread was ended for good; its message is the reason

MODEL_VISIBLE_PHASES: frozenset[str] = frozenset({"repair", SUMMARY_PHASE})
"""System events the model reads (as a user message): a request to repair an answer, and
the summary of history left out of the context window. Other phases are for people."""

IMPORTED_PHASE = "imported"
"""The phase of the system event that follows items a caller supplied as history for a turn
(a conversation kept elsewhere until then), written with them in the transaction that starts
the turn. Its data: `turn_id`, `count` (the items right before it are the imported ones) and,
when an imported call's id was taken in the thread already, `call_ids` (stored id -> the
caller's id)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemEvent:
    type: Literal["system_event"] = "system_event"
    phase: str  # e.g. "repair", "budget", "interrupt"
    message: str
    data: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True, kw_only=True, slots=True)
class ErrorPayload:
    type: Literal["error"] = "error"
    code: str
    message: str


ApprovalDecision = Literal["approved", "denied"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalRequest:
    """A tool call waiting for a human, bound to the tool and a hash of its exact arguments."""

    type: Literal["approval_request"] = "approval_request"
    tool_call_id: str
    name: str
    arguments: str
    arguments_hash: str
    reason: str | None = None  # why approval is asked, e.g. "outcome unknown after a crash"
    expires_at: float | None = None
    thread_id: str | None = None  # set when a parent lists a child thread's request


@dataclass(frozen=True, kw_only=True, slots=True)
class ApprovalResponse:
    type: Literal["approval_response"] = "approval_response"
    tool_call_id: str
    decision: ApprovalDecision
    reason: str | None = None
    always: bool = False  # the same decision for every later call of this tool on the thread
    sender: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class AwaitingInput:
    """A tool asked a human to choose (`await_choice`); the turn waits for the answer."""

    type: Literal["awaiting_input"] = "awaiting_input"
    tool_call_id: str
    prompt: str
    schema: dict[str, Any]
    thread_id: str | None = None  # set when a parent lists a child thread's request


@dataclass(frozen=True, kw_only=True, slots=True)
class InputResponse:
    type: Literal["input_response"] = "input_response"
    tool_call_id: str
    value: Any
    sender: str | None = None


PlanStepStatus = Literal[
    "pending",  # not begun
    "in_progress",  # being worked on now (at most one step at a time)
    "completed",  # done
]
PLAN_STEP_STATUSES: tuple[PlanStepStatus, ...] = ("pending", "in_progress", "completed")


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanStep:
    step: str
    status: PlanStepStatus = "pending"


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """The agent's plan as its latest `update_plan` call left it: every step, with its status."""

    type: Literal["plan"] = "plan"
    steps: tuple[PlanStep, ...] = ()
    explanation: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Subagent:
    """A tool call waits for a child thread (`spawn(..., wait=True)`) that waits for a human:
    the turn pauses until the child can go on. `pending` is what the child waited for when
    this was stored (each with the child's `thread_id`); a later `subagent` item of the same
    child replaces it, and the call's result ends it."""

    type: Literal["subagent"] = "subagent"
    spawned_by: str  # the tool call that started the child and waits for it
    thread_id: str  # the child's
    reference_id: str
    agent: str
    pending: tuple[ApprovalRequest | AwaitingInput, ...] = ()


Payload = (
    UserMessage
    | AgentMessage
    | Reasoning
    | ToolCall
    | ToolResult
    | SystemEvent
    | ErrorPayload
    | ApprovalRequest
    | ApprovalResponse
    | AwaitingInput
    | InputResponse
    | Plan
    | Subagent
)


class _StoredRow:
    """Where an `Item` read from a store keeps its row until first use (see `StoredItems`)."""

    __slots__ = ("_read", "_row")


@dataclass(frozen=True, kw_only=True, slots=True)
class Item(_StoredRow):
    """One stored entry of a thread's history, with its per-thread sequence number."""

    item_id: str
    thread_id: str
    turn_id: str | None
    seq: int
    status: ItemStatus
    payload: Payload
    created_at: float

    @property
    def type(self) -> ItemType:
        return self.payload.type

    @property
    def text(self) -> str:
        """The readable text of a message item, or an empty string."""
        payload = self.payload
        if isinstance(payload, AgentMessage | Reasoning):
            return payload.text
        if isinstance(payload, UserMessage):
            from ._content import parts_text

            return parts_text(payload.content)
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "thread_id": self.thread_id,
            "turn_id": self.turn_id,
            "seq": self.seq,
            "type": self.type,
            "status": self.status,
            "content": payload_to_dict(self.payload),
            "created_at": self.created_at,
        }

    if not TYPE_CHECKING:  # for the type checker, an Item has exactly its fields

        def __getattr__(self, name: str) -> Any:
            # Reached only when an attribute is not set: an item read from a store, on first use.
            _read_stored(self)
            return object.__getattribute__(self, name)


def payload_to_dict(payload: Payload) -> dict[str, Any]:
    """The payload's content as JSON-ready data (without its `type`)."""
    if isinstance(payload, UserMessage):
        return {"content": [part_to_dict(p) for p in payload.content], "sender": payload.sender}
    if isinstance(payload, AgentMessage):
        return {"text": payload.text}
    if isinstance(payload, Reasoning):
        return (
            {"text": payload.text, "data": payload.data} if payload.data else {"text": payload.text}
        )
    if isinstance(payload, ToolCall):
        call = {
            "tool_call_id": payload.tool_call_id,
            "name": payload.name,
            "arguments": payload.arguments,
        }
        if payload.parent_call_id is not None:
            call["parent_call_id"] = payload.parent_call_id
        return call
    if isinstance(payload, ToolResult):
        result = {
            "tool_call_id": payload.tool_call_id,
            "name": payload.name,
            "output": payload.output,
            "outcome": payload.outcome,
        }
        if payload.parent_call_id is not None:
            result["parent_call_id"] = payload.parent_call_id
        return result
    if isinstance(payload, SystemEvent):
        return {"phase": payload.phase, "message": payload.message, "data": payload.data}
    if isinstance(payload, ErrorPayload):
        return {"code": payload.code, "message": payload.message}
    if isinstance(payload, ApprovalRequest):
        request = {
            "tool_call_id": payload.tool_call_id,
            "name": payload.name,
            "arguments": payload.arguments,
            "arguments_hash": payload.arguments_hash,
            "reason": payload.reason,
            "expires_at": payload.expires_at,
        }
        if payload.thread_id is not None:
            request["thread_id"] = payload.thread_id
        return request
    if isinstance(payload, ApprovalResponse):
        return {
            "tool_call_id": payload.tool_call_id,
            "decision": payload.decision,
            "reason": payload.reason,
            "always": payload.always,
            "sender": payload.sender,
        }
    if isinstance(payload, AwaitingInput):
        question = {
            "tool_call_id": payload.tool_call_id,
            "prompt": payload.prompt,
            "schema": payload.schema,
        }
        if payload.thread_id is not None:
            question["thread_id"] = payload.thread_id
        return question
    if isinstance(payload, InputResponse):
        return {
            "tool_call_id": payload.tool_call_id,
            "value": payload.value,
            "sender": payload.sender,
        }
    if isinstance(payload, Plan):
        return {
            "steps": [{"step": s.step, "status": s.status} for s in payload.steps],
            "explanation": payload.explanation,
        }
    return {
        "spawned_by": payload.spawned_by,
        "thread_id": payload.thread_id,
        "reference_id": payload.reference_id,
        "agent": payload.agent,
        "pending": [{"type": p.type, **payload_to_dict(p)} for p in payload.pending],
    }


def _user_message(data: dict[str, Any]) -> Payload:
    return UserMessage(
        content=tuple(part_from_dict(p) for p in data["content"]), sender=data.get("sender")
    )


# Loading a long thread decodes every item: one lookup per item, not a chain of tests.
_DECODERS: dict[str, Callable[[dict[str, Any]], Payload]] = {
    "user_message": _user_message,
    "agent_message": lambda d: AgentMessage(text=d["text"]),
    "reasoning": lambda d: Reasoning(text=d["text"], data=d.get("data", {})),
    "tool_call": lambda d: ToolCall(
        tool_call_id=d["tool_call_id"],
        name=d["name"],
        arguments=d["arguments"],
        parent_call_id=d.get("parent_call_id"),
    ),
    "tool_result": lambda d: ToolResult(
        tool_call_id=d["tool_call_id"],
        name=d["name"],
        output=d["output"],
        outcome=d.get("outcome", "success"),
        parent_call_id=d.get("parent_call_id"),
    ),
    "system_event": lambda d: SystemEvent(
        phase=d["phase"], message=d["message"], data=d.get("data", {})
    ),
    "error": lambda d: ErrorPayload(code=d["code"], message=d["message"]),
    "approval_request": lambda d: ApprovalRequest(**d),
    "approval_response": lambda d: ApprovalResponse(**d),
    "awaiting_input": lambda d: AwaitingInput(**d),
    "input_response": lambda d: InputResponse(**d),
    "plan": lambda d: _plan(d),
    "subagent": lambda d: _subagent(d),
}


def _subagent(data: dict[str, Any]) -> Subagent:
    pending: list[ApprovalRequest | AwaitingInput] = []
    for entry in data.get("pending") or []:
        fields = dict(entry)
        kind = fields.pop("type", None)
        if kind == "approval_request":
            pending.append(ApprovalRequest(**fields))
        elif kind == "awaiting_input":
            pending.append(AwaitingInput(**fields))
        else:
            raise ValueError(f"a subagent's pending request has an unknown type {kind!r}")
    return Subagent(
        spawned_by=data["spawned_by"],
        thread_id=data["thread_id"],
        reference_id=data["reference_id"],
        agent=data["agent"],
        pending=tuple(pending),
    )


def _plan(data: dict[str, Any]) -> Plan:
    steps = data.get("steps") or []
    if not isinstance(steps, list):
        raise ValueError("a plan's steps are a list")
    explanation = data.get("explanation")
    return Plan(
        steps=tuple(_plan_step(s) for s in cast(list[Any], steps)),
        explanation=None if explanation is None else str(explanation),
    )


def _plan_step(data: Any) -> PlanStep:
    if not isinstance(data, dict):
        raise ValueError("a plan step is an object")
    step = cast(dict[str, Any], data)
    status = step.get("status", "pending")
    if status not in PLAN_STEP_STATUSES:
        raise ValueError(f"unknown plan step status {status!r}")
    return PlanStep(step=str(step["step"]), status=status)


def payload_from_dict(item_type: str, data: dict[str, Any]) -> Payload:
    try:
        decode = _DECODERS[item_type]
    except KeyError:
        raise ValueError(f"unknown item type {item_type!r}") from None
    return decode(data)


# -- items read back from a store ----------------------------------------------------------

T = TypeVar("T")
ItemFields = tuple[str, str, "str | None", int, ItemStatus, Payload, float]
"""An item's fields in declaration order: item_id, thread_id, turn_id, seq, status, payload,
created_at."""

_new = object.__new__


def _slot(cls: type, name: str) -> Any:
    """The descriptor of slot `name`: it sets the slot past a frozen dataclass's `__setattr__`."""
    return cls.__dict__[name]


def _setter(cls: type, name: str) -> Callable[[object, Any], None]:
    return _slot(cls, name).__set__


def _reader(cls: type[T]) -> Callable[[dict[str, Any]], T]:
    """Reads a `cls` from the content `payload_to_dict` wrote (each field under its name; a
    missing required one is a KeyError) without `__init__`: frozen dataclasses set each field
    through `object.__setattr__`, most of the cost of reading a long thread. For content
    threadline wrote, and checked, itself."""
    required: list[tuple[Callable[[object, Any], None], str]] = []
    optional: list[tuple[Callable[[object, Any], None], str, Any, Callable[[], Any] | None]] = []
    kind: tuple[Callable[[object, Any], None], Any] | None = None
    for name, spec in cls.__dict__["__dataclass_fields__"].items():
        set_field = _setter(cls, name)
        if name == "type":
            kind = (set_field, spec.default)
        elif spec.default is MISSING and spec.default_factory is MISSING:
            required.append((set_field, name))
        elif spec.default_factory is MISSING:
            optional.append((set_field, name, spec.default, None))
        else:
            optional.append((set_field, name, None, spec.default_factory))
    assert kind is not None

    def read(data: dict[str, Any]) -> T:
        made = _new(cls)
        kind[0](made, kind[1])
        for set_field, name in required:
            set_field(made, data[name])
        for set_field, name, default, factory in optional:
            if name in data:
                set_field(made, data[name])
            else:
                set_field(made, default if factory is None else factory())
        return made

    return read


_text_part = _setter(TextPart, "text")
_text_part_type = _setter(TextPart, "type")


def _stored_part(data: Any) -> ContentPart:
    if type(data) is dict and data.get("type") == "text" and type(data.get("text")) is str:
        part = _new(TextPart)
        _text_part_type(part, "text")
        _text_part(part, data["text"])
        return part
    return part_from_dict(data)


_user_message_content = _setter(UserMessage, "content")
_read_user_message = _reader(UserMessage)


def _stored_user_message(data: dict[str, Any]) -> Payload:
    message = _read_user_message(data)
    _user_message_content(message, tuple([_stored_part(p) for p in data["content"]]))
    return message


# The common kinds read without `__init__`; the rarer ones are checked by their constructors.
_STORED: dict[str, Callable[[dict[str, Any]], Payload]] = {
    **_DECODERS,
    "user_message": _stored_user_message,
    "agent_message": _reader(AgentMessage),
    "reasoning": _reader(Reasoning),
    "tool_call": _reader(ToolCall),
    "tool_result": _reader(ToolResult),
    "system_event": _reader(SystemEvent),
}


def stored_payload(item_type: str, data: dict[str, Any]) -> Payload:
    """The payload of a stored item, from the content `payload_to_dict` wrote."""
    try:
        decode = _STORED[item_type]
    except KeyError:
        raise ValueError(f"unknown item type {item_type!r}") from None
    return decode(data)


_row_slot = _slot(_StoredRow, "_row")
_read_slot = _slot(_StoredRow, "_read")
_set_row: Callable[[Item, Any], None] = _row_slot.__set__
_set_read: Callable[[Item, Callable[[Any], ItemFields]], None] = _read_slot.__set__
_ITEM_SETTERS = tuple(_setter(Item, name) for name in Item.__dataclass_fields__)


class StoredItems:
    """Wraps stored rows as `Item`s whose fields `read(row)` gives on first use of any of
    them. Loading a long thread then costs one small object per row, and what is never looked
    at is never decoded; `read` raises for a row it cannot read, at that first use."""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[Any], ItemFields]) -> None:
        self._read = read

    def __call__(self, row: Any, /) -> Item:
        item = _new(Item)
        _set_row(item, row)
        _set_read(item, self._read)
        return item


def _read_stored(item: Item) -> None:
    try:
        row = _row_slot.__get__(item)
    except AttributeError:  # not a stored item, or one read already
        return
    fields = _read_slot.__get__(item)(row)
    for set_field, value in zip(_ITEM_SETTERS, fields, strict=True):
        set_field(item, value)
    with suppress(AttributeError):  # another thread read it meanwhile
        _row_slot.__delete__(item)


def payload_call_id(payload: Payload) -> str | None:
    """The tool call a payload belongs to: each type has at most one item per call."""
    return getattr(payload, "tool_call_id", None)
