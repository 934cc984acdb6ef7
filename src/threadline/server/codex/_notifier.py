"""Threadline events as Codex app-server notifications, for one thread on one connection.

The adapter translates; it does not invent: each notification comes from one event. Tool
calls become `mcpToolCall` items (started when the model names the tool, completed with the
tool's result); an approval the turn waits for becomes an `Ask` the session turns into a
server-to-client request; its decision becomes a `Resolved`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from threadline.types import Event, ToolResult

from ._jsonrpc import JSON
from ._shapes import (
    collab_agent_call,
    item_shape,
    live_turn,
    mcp_tool_call,
    now_ms,
    token_breakdown,
    turn_error,
)


@dataclass(frozen=True, kw_only=True)
class Note:
    method: str
    params: JSON


@dataclass(frozen=True, kw_only=True)
class Ask:
    """A tool call waiting for the client's decision."""

    thread_id: str
    turn_id: str | None
    tool_call_id: str
    name: str
    arguments: str
    reason: str | None


@dataclass(frozen=True, kw_only=True)
class Resolved:
    thread_id: str
    tool_call_id: str


Output = Note | Ask | Resolved
ArgumentsLoader = Callable[[str], Awaitable[str]]

_PLAN_STATUS = {
    "pending": "pending",
    "in_progress": "inProgress",
    "inProgress": "inProgress",
    "completed": "completed",
}

_CHILD_STATUS = {"completed": "completed", "failed": "errored", "cancelled": "interrupted"}


class ThreadNotifier:
    """Translates the events of one thread; keeps what a translation needs from earlier
    events (tool arguments, turn start times, what the thread waits for)."""

    def __init__(
        self,
        thread_id: str,
        *,
        status: JSON,
        load_arguments: ArgumentsLoader,
        waiting: dict[str, str] | None = None,
    ) -> None:
        self.thread_id = thread_id
        self.status = status
        self._load_arguments = load_arguments
        self._waiting: dict[str, str] = dict(waiting or {})  # call id -> active flag
        self._calls: dict[str, tuple[str, str]] = {}  # call id -> (tool name, arguments)
        self._started: dict[str, float] = {}
        self._handlers: dict[str, Callable[[Event], Awaitable[list[Output]]]] = {
            "turn_started": self._turn_started,
            "item_started": self._item_started,
            "item_completed": self._item_completed,
            "agent_message_delta": self._message_delta,
            "reasoning_delta": self._reasoning_delta,
            "usage_delta": self._usage,
            "plan_updated": self._plan,
            "subagent_progress": self._subagent,
            "approval_requested": self._approval_requested,
            "approval_resolved": self._approval_resolved,
            "completed": self._completed,
            "cancelled": self._cancelled,
            "failed": self._failed,
        }

    async def translate(self, event: Event) -> list[Output]:
        handler = self._handlers.get(event.type)
        if handler is None:
            return []
        return await handler(event)

    # -- status ------------------------------------------------------------------------------

    def _set_status(self, status: JSON, out: list[Output]) -> None:
        if status != self.status:
            self.status = status
            out.append(
                Note(
                    method="thread/status/changed",
                    params={"threadId": self.thread_id, "status": status},
                )
            )

    def _active(self, out: list[Output]) -> None:
        flags = sorted(set(self._waiting.values()))
        self._set_status({"type": "active", "activeFlags": flags}, out)

    # -- handlers ----------------------------------------------------------------------------

    async def _turn_started(self, event: Event) -> list[Output]:
        out: list[Output] = []
        self._waiting.clear()
        self._active(out)
        turn_id = event.turn_id or ""
        self._started[turn_id] = time.time()
        out.append(
            Note(
                method="turn/started",
                params={
                    "threadId": self.thread_id,
                    "turn": live_turn(turn_id, "inProgress", started_at=self._started[turn_id]),
                },
            )
        )
        return out

    def _item_note(self, method: str, event: Event, item: JSON) -> Note:
        stamp = "startedAtMs" if method == "item/started" else "completedAtMs"
        return Note(
            method=method,
            params={
                "threadId": self.thread_id,
                "turnId": event.turn_id or "",
                "item": item,
                stamp: now_ms(),
            },
        )

    async def _item_started(self, event: Event) -> list[Output]:
        item: dict[str, Any] = dict(event.params.get("item") or {})
        content: dict[str, Any] = item.get("content") or {}
        if item.get("type") == "tool_call":
            call_id = str(content.get("tool_call_id") or item.get("id", ""))
            name = str(content.get("name", ""))
            self._calls[call_id] = (name, str(content.get("arguments", "")))
            return [
                self._item_note(
                    "item/started", event, mcp_tool_call(call_id, name, self._calls[call_id][1])
                )
            ]
        shape = item_shape(str(item.get("type")), str(item.get("id")), content)
        return [] if shape is None else [self._item_note("item/started", event, shape)]

    async def _item_completed(self, event: Event) -> list[Output]:
        item: dict[str, Any] = dict(event.params.get("item") or {})
        content: dict[str, Any] = item.get("content") or {}
        kind = item.get("type")
        if kind == "tool_call":
            call_id = str(content.get("tool_call_id") or item.get("id", ""))
            self._calls[call_id] = (str(content.get("name", "")), str(content.get("arguments", "")))
            return []
        if kind == "tool_result":
            call_id = str(content.get("tool_call_id", ""))
            known = self._calls.pop(call_id, None)
            arguments = known[1] if known is not None else await self._load_arguments(call_id)
            result = ToolResult(
                tool_call_id=call_id,
                name=str(content.get("name", "")),
                output=str(content.get("output", "")),
                outcome=content.get("outcome", "success"),
            )
            return [
                self._item_note(
                    "item/completed",
                    event,
                    mcp_tool_call(call_id, result.name, arguments, result=result),
                )
            ]
        shape = item_shape(str(kind), str(item.get("id")), content)
        return [] if shape is None else [self._item_note("item/completed", event, shape)]

    async def _message_delta(self, event: Event) -> list[Output]:
        return [
            Note(
                method="item/agentMessage/delta",
                params={
                    "threadId": self.thread_id,
                    "turnId": event.turn_id or "",
                    "itemId": event.item_id or "",
                    "delta": str(event.params.get("delta", "")),
                },
            )
        ]

    async def _reasoning_delta(self, event: Event) -> list[Output]:
        return [
            Note(
                method="item/reasoning/textDelta",
                params={
                    "threadId": self.thread_id,
                    "turnId": event.turn_id or "",
                    "itemId": event.item_id or "",
                    "delta": str(event.params.get("delta", "")),
                    "contentIndex": 0,
                },
            )
        ]

    async def _usage(self, event: Event) -> list[Output]:
        return [
            Note(
                method="thread/tokenUsage/updated",
                params={
                    "threadId": self.thread_id,
                    "turnId": event.turn_id or "",
                    "tokenUsage": {
                        "last": token_breakdown(event.params.get("usage") or {}),
                        "total": token_breakdown(event.params.get("total") or {}),
                        "modelContextWindow": None,
                    },
                },
            )
        ]

    async def _plan(self, event: Event) -> list[Output]:
        steps: list[Any] = list(event.params.get("plan") or [])
        plan = [
            {
                "step": str(s.get("step", "")),
                "status": _PLAN_STATUS.get(str(s.get("status")), "pending"),
            }
            for s in steps
            if isinstance(s, dict)
        ]
        explanation = event.params.get("explanation")
        return [
            Note(
                method="turn/plan/updated",
                params={
                    "threadId": self.thread_id,
                    "turnId": event.turn_id or "",
                    "explanation": explanation if isinstance(explanation, str) else None,
                    "plan": plan,
                },
            )
        ]

    async def _subagent(self, event: Event) -> list[Output]:
        """A child's start and end are Codex's `spawnAgent` collab call; what it does in
        between has no item in the parent's stream, so it travels as a threadline note."""
        params = event.params
        phase = params.get("phase")
        child = str(params.get("thread_id", ""))
        sender = str(params.get("parent_thread_id") or self.thread_id)
        if phase == "started":
            item = collab_agent_call(child, sender, "spawnAgent", "inProgress", "running")
            return [self._item_note("item/started", event, item)]
        if phase == "ended":
            status = str(params.get("status", ""))
            agent_status = _CHILD_STATUS.get(status, "completed")
            text = params.get("text")
            item = collab_agent_call(
                child,
                sender,
                "spawnAgent",
                "failed" if status == "failed" else "completed",
                agent_status,
                message=text if isinstance(text, str) else None,
            )
            return [self._item_note("item/completed", event, item)]
        return [
            Note(
                method="threadline/subagent/progress",
                params={"threadId": self.thread_id, "turnId": event.turn_id or "", **params},
            )
        ]

    async def _approval_requested(self, event: Event) -> list[Output]:
        params = event.params
        call_id = str(params.get("tool_call_id", ""))
        out: list[Output] = []
        if params.get("kind") == "input":
            self._waiting[call_id] = "waitingOnUserInput"
            self._active(out)
            return out
        self._waiting[call_id] = "waitingOnApproval"
        self._active(out)
        out.append(
            Ask(
                thread_id=self.thread_id,
                turn_id=event.turn_id,
                tool_call_id=call_id,
                name=str(params.get("name", "")),
                arguments=str(params.get("arguments", "")),
                reason=params.get("reason"),
            )
        )
        return out

    async def _approval_resolved(self, event: Event) -> list[Output]:
        call_id = str(event.params.get("tool_call_id", ""))
        self._waiting.pop(call_id, None)
        out: list[Output] = [Resolved(thread_id=self.thread_id, tool_call_id=call_id)]
        self._active(out)
        return out

    def _ended(
        self, event: Event, status: str, error: dict[str, Any] | None, out: list[Output]
    ) -> list[Output]:
        turn_id = event.turn_id or ""
        out.append(
            Note(
                method="turn/completed",
                params={
                    "threadId": self.thread_id,
                    "turn": live_turn(
                        turn_id, status, started_at=self._started.pop(turn_id, None), error=error
                    ),
                },
            )
        )
        self._waiting.clear()
        self._set_status({"type": "idle"}, out)
        return out

    async def _completed(self, event: Event) -> list[Output]:
        return self._ended(event, "completed", None, [])

    async def _cancelled(self, event: Event) -> list[Output]:
        return self._ended(event, "interrupted", None, [])

    async def _failed(self, event: Event) -> list[Output]:
        error: dict[str, Any] = dict(
            event.params.get("error") or {"code": "error", "message": "turn failed"}
        )
        out: list[Output] = [
            Note(
                method="error",
                params={
                    "threadId": self.thread_id,
                    "turnId": event.turn_id or "",
                    "error": turn_error(error),
                    "willRetry": False,
                },
            )
        ]
        return self._ended(event, "failed", error, out)
