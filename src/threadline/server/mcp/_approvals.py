"""Approvals over MCP: answered by a tool call (`answer_approval`, bound to the call and
single use, as an `mcp_approval_response` is), or asked of the client's user through
elicitation: a request to the client on connections that carry them, or, on 2026-07-28
connections, an `InputRequiredResult` that the client answers by calling the tool again.
Accepting approves the call, declining denies it, cancelling leaves it waiting."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mcp_types as types
import orjson
from mcp.server.session import ServerSession

from threadline import Thread
from threadline.types import ApprovalRequest, InvalidInputError

logger = logging.getLogger("threadline.server")

_KEY_PREFIX = "approval:"
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


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A person's decision on one pending tool call."""

    tool_call_id: str
    approve: bool
    reason: str | None = None


async def pending_approvals(thread: Thread) -> list[ApprovalRequest]:
    """The approvals the thread's paused turn waits for (its subagents' included)."""
    return [p for p in await thread.pending() if isinstance(p, ApprovalRequest)]


async def record(thread: Thread, answers: Sequence[Answer], *, strict: bool) -> int:
    """Record each answer whose call still waits; return how many were recorded. `strict`:
    an answer to a call that does not wait (answered already, or unknown) raises
    `InvalidInputError` and nothing is recorded."""
    waiting = {p.tool_call_id for p in await pending_approvals(thread)}
    if strict:
        for answer in answers:
            if answer.tool_call_id not in waiting:
                raise InvalidInputError(
                    f"no approval of call {answer.tool_call_id!r} waits on thread {thread.id!r}: "
                    "it was answered already, or the thread has no such call",
                    thread_id=thread.id,
                    tool_call_id=answer.tool_call_id,
                )
    recorded = 0
    for answer in answers:
        if answer.tool_call_id not in waiting:
            continue
        if answer.approve:
            await thread.approve(answer.tool_call_id, reason=answer.reason)
        else:
            await thread.deny(answer.tool_call_id, reason=answer.reason)
        waiting.discard(answer.tool_call_id)
        recorded += 1
    return recorded


def can_elicit(session: ServerSession) -> bool:
    """Whether the client declared that it asks its user to fill in forms."""
    capabilities = session.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    # An empty `elicitation` capability means forms, by the specification.
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


async def ask(
    session: ServerSession, request_id: types.RequestId | None, pending: Sequence[ApprovalRequest]
) -> list[Answer]:
    """Ask the client's user about each pending call, one after the other, until one is
    left unanswered (cancelled, or the client could not ask)."""
    answers: list[Answer] = []
    for request in pending:
        try:
            result = await session.elicit_form(
                _question(request), _REASON_SCHEMA, related_request_id=request_id
            )
        except Exception as exc:  # the client failed to ask: the call keeps waiting
            logger.debug("asking the MCP client about a call failed: %s", type(exc).__name__)
            break
        answer = _answer(request.tool_call_id, result)
        if answer is None:
            break
        answers.append(answer)
    return answers


def input_required(
    thread_id: str, turn_id: str, pending: Sequence[ApprovalRequest]
) -> types.InputRequiredResult:
    """The question for each pending call, for the client to ask and send back with the
    same tool call; `request_state` names the paused turn."""
    return types.InputRequiredResult(
        input_requests={
            _KEY_PREFIX + request.tool_call_id: types.ElicitRequest(
                params=types.ElicitRequestFormParams(
                    message=_question(request), requested_schema=_REASON_SCHEMA
                )
            )
            for request in pending
        },
        request_state=orjson.dumps({"thread_id": thread_id, "turn_id": turn_id}).decode(),
    )


@dataclass(frozen=True, kw_only=True)
class Reply:
    """A tool call sent again with the answers to an `InputRequiredResult`."""

    thread_id: str
    turn_id: str
    answers: list[Answer]


def reply(request_state: str, responses: Mapping[str, types.InputResponse] | None) -> Reply:
    """What a repeated call answers. The state comes back from the client, so it is trusted
    for nothing: the thread is looked up for the caller as any other id is, and only calls
    that still wait are decided."""
    try:
        state = orjson.loads(request_state)
        thread_id, turn_id = state["thread_id"], state["turn_id"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        raise InvalidInputError("request_state is not one this server wrote") from None
    if not isinstance(thread_id, str) or not isinstance(turn_id, str):
        raise InvalidInputError("request_state is not one this server wrote")
    answers: list[Answer] = []
    for key, response in (responses or {}).items():
        if key.startswith(_KEY_PREFIX) and isinstance(response, types.ElicitResult):
            answer = _answer(key.removeprefix(_KEY_PREFIX), response)
            if answer is not None:
                answers.append(answer)
    return Reply(thread_id=thread_id, turn_id=turn_id, answers=answers)


def _question(request: ApprovalRequest) -> str:
    return (
        f"The agent wants to call {request.name} with {request.arguments}. "
        "Accept to approve the call, decline to deny it."
    )


def _answer(tool_call_id: str, result: types.ElicitResult) -> Answer | None:
    if result.action == "cancel":
        return None
    reason = (result.content or {}).get("reason")
    return Answer(
        tool_call_id=tool_call_id,
        approve=result.action == "accept",
        reason=reason if isinstance(reason, str) and reason.strip() else None,
    )
