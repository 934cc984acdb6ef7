"""What a paused turn asks, over MCP: approvals of tool calls and choices that tools wait for
(`await_choice`). Each is answered by a tool call (`answer_approval`, bound to the call and
single use as an `mcp_approval_response` is; `answer_input`, checked against the choice's
schema), or asked of the client's user through elicitation: a request to the client on
connections that carry them, or, on 2026-07-28 connections, an `InputRequiredResult` that
the client answers by calling the tool again. For an approval, accepting approves the call
and declining denies it; for a choice, accepting answers it with the form's content. Anything
else leaves the question waiting."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import mcp_types as types
import orjson
from mcp.server.session import ServerSession

from threadline import Thread
from threadline.types import ApprovalRequest, AwaitingInput, InvalidInputError

logger = logging.getLogger("threadline.server")

_APPROVAL_KEY = "approval:"
_CHOICE_KEY = "choice:"
_REASON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {
            "type": "string",
            "title": "Reason",
            "description": "Why (optional; stored with the decision)",
        }
    },
}
_WRAPPED = "answer"  # the one field of a form that asks for a choice that is not an object
_PRIMITIVES = frozenset({"string", "number", "integer", "boolean"})
_FIELD_KEYWORDS = frozenset(
    {
        "type",
        "title",
        "description",
        "enum",
        "enumNames",
        "default",
        "format",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
    }
)


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A person's decision on one pending tool call."""

    tool_call_id: str
    approve: bool
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Answers:
    """What the client's user answered: decisions on calls, and the value of the choice."""

    approvals: list[Answer] = field(default_factory=list[Answer])
    choice: tuple[Any] | None = None  # (value,): None when the choice was not answered


@dataclass(frozen=True, kw_only=True)
class Questions:
    """What a paused turn waits for from a person."""

    approvals: list[ApprovalRequest]
    choice: AwaitingInput | None

    def __bool__(self) -> bool:
        return bool(self.approvals) or self.choice is not None

    def forms(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """The questions a client can ask its user, by key: each one's message and form."""
        found = {
            _APPROVAL_KEY + r.tool_call_id: (_question(r), _REASON_SCHEMA) for r in self.approvals
        }
        form = None if self.choice is None else choice_form(self.choice.schema)
        if self.choice is not None and form is not None:
            found[_CHOICE_KEY + self.choice.tool_call_id] = (self.choice.prompt, form)
        return found


async def questions(thread: Thread) -> Questions:
    """What the thread's paused turn waits for (its subagents' requests included)."""
    pending = await thread.pending()
    return Questions(
        approvals=[p for p in pending if isinstance(p, ApprovalRequest)],
        choice=next((p for p in pending if isinstance(p, AwaitingInput)), None),
    )


async def record(thread: Thread, answers: Answers, *, strict: bool) -> int:
    """Record each answer whose question still waits; return how many were recorded.
    `strict`: an answer to a call that does not wait (answered already, or unknown) raises
    `InvalidInputError` and nothing is recorded. A choice's value that does not fit its
    schema raises `InvalidInputError` after the decisions are recorded."""
    waiting = await questions(thread)
    waiting_calls = {p.tool_call_id for p in waiting.approvals}
    if strict:
        for answer in answers.approvals:
            if answer.tool_call_id not in waiting_calls:
                raise InvalidInputError(
                    f"no approval of call {answer.tool_call_id!r} waits on thread {thread.id!r}: "
                    "it was answered already, or the thread has no such call",
                    thread_id=thread.id,
                    tool_call_id=answer.tool_call_id,
                )
        if answers.choice is not None and waiting.choice is None:
            raise InvalidInputError(
                f"no choice waits for an answer on thread {thread.id!r}: it was answered "
                "already, or no tool of the thread asked one",
                thread_id=thread.id,
            )
    recorded = 0
    for answer in answers.approvals:
        if answer.tool_call_id not in waiting_calls:
            continue
        if answer.approve:
            await thread.approve(answer.tool_call_id, reason=answer.reason)
        else:
            await thread.deny(answer.tool_call_id, reason=answer.reason)
        waiting_calls.discard(answer.tool_call_id)
        recorded += 1
    if answers.choice is not None and waiting.choice is not None:
        await thread.answer(answers.choice[0])
        recorded += 1
    return recorded


def can_elicit(session: ServerSession) -> bool:
    """Whether the client declared that it asks its user to fill in forms."""
    capabilities = session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # An empty `elicitation` capability means forms, by the specification.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def ask(
    session: ServerSession, request_id: types.RequestId | None, waiting: Questions
) -> Answers:
    """Ask the client's user each question, one after the other, until one is left
    unanswered (cancelled, declined for a choice, or the client could not ask)."""
    approvals: list[Answer] = []
    choice: tuple[Any] | None = None
    for key, (message, form) in waiting.forms().items():
        try:
            result = await session.elicit_form(message, form, related_request_id=request_id)
        except Exception as exc:  # the client failed to ask: the question keeps waiting
            logger.debug("asking the MCP client a question failed: %s", type(exc).__name__)
            break
        answered = _answered(key, result, waiting)
        if answered is None:
            break
        if isinstance(answered, Answer):
            approvals.append(answered)
        else:
            choice = answered
    return Answers(approvals=approvals, choice=choice)


def input_required(thread_id: str, turn_id: str, waiting: Questions) -> types.InputRequiredResult:
    """Each question as a form for the client to fill in and send back with the same tool
    call; `request_state` names the paused turn."""
    return types.InputRequiredResult(
        input_requests={
            key: types.ElicitRequest(
                params=types.ElicitRequestFormParams(message=message, requested_schema=form)
            )
            for key, (message, form) in waiting.forms().items()
        },
        request_state=orjson.dumps({"thread_id": thread_id, "turn_id": turn_id}).decode(),
    )


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A tool call sent again with the answers to an `InputRequiredResult`."""

    thread_id: str
    turn_id: str
    responses: dict[str, types.ElicitResult]

    def answers(self, waiting: Questions) -> Answers:
        """The answers to the questions that still wait."""
        approvals: list[Answer] = []
        choice: tuple[Any] | None = None
        for key, response in self.responses.items():
            answered = _answered(key, response, waiting)
            if isinstance(answered, Answer):
                approvals.append(answered)
            elif answered is not None:
                choice = answered
        return Answers(approvals=approvals, choice=choice)


def reply(request_state: str, responses: Mapping[str, types.InputResponse] | None) -> Reply:
    """What a repeated call answers. The state comes back from the client, so it is trusted
    for nothing: the thread is looked up for the caller as any other id is, and only
    questions that still wait are answered."""
    try:
        state = orjson.loads(request_state)
        thread_id, turn_id = state["thread_id"], state["turn_id"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        raise InvalidInputError("request_state is not one this server wrote") from None
    if not isinstance(thread_id, str) or not isinstance(turn_id, str):
        raise InvalidInputError("request_state is not one this server wrote")
    elicited = {
        key: response
        for key, response in (responses or {}).items()
        if isinstance(response, types.ElicitResult)
    }
    return Reply(thread_id=thread_id, turn_id=turn_id, responses=elicited)


def choice_form(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """The form that asks for a choice of this schema, if elicitation can carry it: an
    object of strings, numbers and booleans, or one such value (asked as the form's one
    field). None for anything else."""
    if schema.get("type") != "object":
        only = _field(schema)
        return (
            None
            if only is None
            else {"type": "object", "properties": {_WRAPPED: only}, "required": [_WRAPPED]}
        )
    properties = _mapping(schema.get("properties"))
    fields = {name: _field(_mapping(value)) for name, value in properties.items()}
    if not fields or any(f is None for f in fields.values()):
        return None
    form: dict[str, Any] = {"type": "object", "properties": fields}
    required = schema.get("required")
    if isinstance(required, list):
        form["required"] = cast(list[str], required)
    return form


def _field(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = schema.get("type")
    choices = schema.get("enum")
    if kind is None and isinstance(choices, list):
        kind = "string" if all(isinstance(c, str) for c in cast(list[Any], choices)) else None
    if kind not in _PRIMITIVES:
        return None
    return {**{k: v for k, v in schema.items() if k in _FIELD_KEYWORDS}, "type": kind}


def _mapping(value: Any) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, dict) else {}


def _question(request: ApprovalRequest) -> str:
    return (
        f"The agent wants to call {request.name} with {request.arguments}. "
        "Accept to approve the call, decline to deny it."
    )


def _answered(
    key: str, result: types.ElicitResult, waiting: Questions
) -> Answer | tuple[Any] | None:
    """The answer a filled-in form gives to the question of `key`; None for none."""
    if key.startswith(_APPROVAL_KEY):
        if result.action == "cancel":
            return None
        reason = (result.content or {}).get("reason")
        return Answer(
            tool_call_id=key.removeprefix(_APPROVAL_KEY),
            approve=result.action == "accept",
            reason=reason if isinstance(reason, str) and reason.strip() else None,
        )
    choice = waiting.choice
    if choice is None or key != _CHOICE_KEY + choice.tool_call_id or result.action != "accept":
        return None
    content = dict(result.content or {})
    return (content.get(_WRAPPED) if choice.schema.get("type") != "object" else content,)
