"""Approvals as server-to-client requests. A tool call that needs a human becomes an
`mcpServer/elicitation/request` marked `codex_approval_kind: "mcp_tool_call"` (how the v2
protocol asks about MCP tool calls); the answer's `action` (`accept`, `decline`, `cancel`,
with `_meta.persist` for a standing decision) or a `decision` (`accept`, `acceptForSession`,
`decline`, `cancel`) is recorded on the thread, and the turn continues here. An answer
without a decision, or an error, declines, as codex does. A pending approval is stored, so
it is asked again on `thread/resume`, after a reconnect or a restart.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from threadline import Thread
from threadline.types import (
    ApprovalRequest,
    InvalidInputError,
    ThreadlineError,
    ToolCall,
    TurnInProgressError,
)

from ._jsonrpc import JSON, Response
from ._notifier import ArgumentsLoader, Ask, Resolved
from ._shapes import SERVER_NAME, tool_arguments

if TYPE_CHECKING:
    from ._session import Session

logger = logging.getLogger("threadline.server.codex")

ELICITATION = "mcpServer/elicitation/request"
Decision = Literal["accept", "acceptForSession", "decline", "cancel"]
DECISIONS: frozenset[str] = frozenset({"accept", "acceptForSession", "decline", "cancel"})


def elicitation_params(ask: Ask) -> JSON:
    reason = f" ({ask.reason})" if ask.reason else ""
    return {
        "threadId": ask.thread_id,
        "turnId": ask.turn_id,
        "serverName": SERVER_NAME,
        "mode": "form",
        "message": f'Allow the {SERVER_NAME} MCP server to run tool "{ask.name}"?{reason}',
        "requestedSchema": {"type": "object", "properties": {}},
        "_meta": {
            "codex_approval_kind": "mcp_tool_call",
            "persist": ["session"],
            "tool_name": ask.name,
            "tool_params": tool_arguments(ask.arguments),
            "tool_call_id": ask.tool_call_id,
            "item_id": ask.tool_call_id,
            "reason": ask.reason,
        },
    }


def decision_of(result: Any) -> Decision | None:
    """The decision an answer carries, in either vocabulary; None if it carries none."""
    if not isinstance(result, dict):
        return None
    decision = result.get("decision")
    if isinstance(decision, str) and decision in DECISIONS:
        return decision  # type: ignore[return-value]
    action = result.get("action")
    if action == "accept":
        meta = result.get("_meta")
        persist = meta.get("persist") if isinstance(meta, dict) else None
        return "acceptForSession" if persist in ("session", "always") else "accept"
    if action in ("decline", "cancel"):
        return action  # type: ignore[return-value]
    return None


def ask(session: Session, request: Ask) -> None:
    """Ask the client about a tool call, unless it is being asked already."""
    for outstanding in session.asks.values():
        if (outstanding.thread_id, outstanding.tool_call_id) == (
            request.thread_id,
            request.tool_call_id,
        ):
            return

    async def on_response(response: Response) -> None:
        await _answer(session, request_id, response)

    request_id = session.request(ELICITATION, elicitation_params(request), on_response)
    session.asks[request_id] = request


def resolved(session: Session, event: Resolved) -> None:
    """The call was decided (here or elsewhere): withdraw the requests about it."""
    for request_id, outstanding in list(session.asks.items()):
        if (outstanding.thread_id, outstanding.tool_call_id) == (
            event.thread_id,
            event.tool_call_id,
        ):
            del session.asks[request_id]
            session.notify(
                "serverRequest/resolved", {"threadId": event.thread_id, "requestId": request_id}
            )


async def reissue(session: Session, thread: Thread) -> None:
    """Ask again about every approval the thread's paused turn waits for."""
    record = await thread.reload()
    for pending in await thread.pending():
        if isinstance(pending, ApprovalRequest):
            ask(
                session,
                Ask(
                    thread_id=thread.id,
                    turn_id=record.active_turn_id,
                    tool_call_id=pending.tool_call_id,
                    name=pending.name,
                    arguments=pending.arguments,
                    reason=pending.reason,
                ),
            )


async def waiting_flags(thread: Thread) -> dict[str, str]:
    """What the thread waits for, as the protocol's active flags by tool call id."""
    return {
        p.tool_call_id: "waitingOnApproval"
        if isinstance(p, ApprovalRequest)
        else "waitingOnUserInput"
        for p in await thread.pending()
    }


def load_arguments(thread: Thread) -> ArgumentsLoader:
    async def load(tool_call_id: str) -> str:
        for item in await thread.items():
            payload = item.payload
            if isinstance(payload, ToolCall) and payload.tool_call_id == tool_call_id:
                return payload.arguments
        return ""

    return load


async def _answer(session: Session, request_id: int | str, response: Response) -> None:
    request = session.asks.get(request_id)
    if request is None:
        return  # decided already, by another answer or another client
    decision = None if response.error is not None else decision_of(response.result)
    if decision is None:
        # Codex declines when an answer carries no decision it can read, or is an error
        # (the official SDK's default handler answers `{}`), so the turn goes on.
        logger.info("approval request %s answered without a decision: declined", request_id)
        decision = "decline"
    try:
        await apply_decision(session, request, decision)
    except ThreadlineError as exc:
        logger.info("decision on %s not applied: %s", request.tool_call_id, exc.message)
    resolved(session, Resolved(thread_id=request.thread_id, tool_call_id=request.tool_call_id))


async def apply_decision(session: Session, request: Ask, decision: Decision) -> None:
    """Record the decision; then continue the turn here once nothing else is awaited
    (`cancel` interrupts it instead)."""
    thread = await session.thread(request.thread_id)
    if decision in ("accept", "acceptForSession"):
        await thread.approve(request.tool_call_id, always=decision == "acceptForSession")
    else:
        reason = "declined by the client" if decision == "decline" else "cancelled by the client"
        await thread.deny(request.tool_call_id, reason=reason)
    if decision == "cancel":
        await thread.interrupt()
        return
    if any(isinstance(p, ApprovalRequest) for p in await thread.pending()):
        return
    try:
        await session.hub.start(thread.resume_turn_streamed())
    except (TurnInProgressError, InvalidInputError) as exc:
        # Resumed already, by another client or by recovery.
        logger.info("turn of %s not resumed here: %s", thread.id, exc.message)
