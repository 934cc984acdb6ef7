"""Threadline records in the shapes of the Codex app-server v2 schema: `Thread`, `Turn`,
`ThreadItem`, `UserInput`, token usage. Agents are offered as the protocol's models; tools
appear as `mcpToolCall` items of the `threadline` server."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from threadline.types import (
    AgentMessage,
    ContentPart,
    FilePart,
    ImagePart,
    InvalidInputError,
    Item,
    Reasoning,
    Subagent,
    TextPart,
    ThreadRecord,
    ToolCall,
    ToolResult,
    TurnRecord,
    UserMessage,
)

from ._jsonrpc import JSON

SERVER_NAME = "threadline"  # the MCP server that threadline tools appear under
MODEL_PROVIDER = "threadline"


@dataclass(frozen=True, kw_only=True)
class ServerInfo:
    """What the server says about itself in responses."""

    version: str
    cwd: str  # absolute; the protocol's `cwd` and `codexHome`

    @classmethod
    def current(cls) -> ServerInfo:
        from threadline import __version__

        return cls(version=__version__, cwd=os.path.abspath(os.getcwd()))

    def initialize_result(self) -> JSON:
        os_name = {"darwin": "macos", "win32": "windows"}.get(
            sys.platform, platform.system().lower() or "unknown"
        )
        return {
            "userAgent": f"{SERVER_NAME}/{self.version}",
            "serverInfo": {"name": SERVER_NAME, "version": self.version},
            "codexHome": self.cwd,
            "platformFamily": "windows" if os.name == "nt" else "unix",
            "platformOs": os_name,
        }


def now_ms() -> int:
    return int(time.time() * 1000)


# -- threads and turns -----------------------------------------------------------------------


def thread_status(record: ThreadRecord, flags: Sequence[str] = ()) -> JSON:
    if record.status in ("archived", "terminated"):  # neither takes a turn again as it is
        return {"type": "notLoaded"}
    if record.status == "idle" and record.active_turn_id is None:
        return {"type": "idle"}
    if record.status == "awaiting_input" and not flags:
        flags = ("waitingOnApproval",)
    return {"type": "active", "activeFlags": list(flags)}


def thread_shape(
    record: ThreadRecord,
    info: ServerInfo,
    *,
    preview: str = "",
    turns: list[JSON] | None = None,
    flags: Sequence[str] = (),
) -> JSON:
    metadata = record.metadata
    name = metadata.get("name")
    forked = metadata.get("forked_from_id")
    return {
        "id": record.thread_id,
        "sessionId": record.thread_id,
        "preview": preview,
        "name": name if isinstance(name, str) else None,
        "ephemeral": False,
        "model": record.agent,
        "modelProvider": MODEL_PROVIDER,
        "reasoningEffort": None,
        "createdAt": int(record.created_at),
        "updatedAt": int(record.updated_at),
        "recencyAt": int(record.updated_at),
        "cliVersion": info.version,
        "cwd": info.cwd,
        "source": "appServer",
        "status": thread_status(record, flags),
        "turns": turns if turns is not None else [],
        "projectId": None,
        "path": None,
        "forkedFromId": forked if isinstance(forked, str) else None,
        "parentThreadId": record.parent_id,
        "agentNickname": None,
        "agentRole": None,
        "gitInfo": None,
    }


def session_fields(record: ThreadRecord, info: ServerInfo) -> JSON:
    """The fields `thread/start`, `thread/resume` and `thread/fork` answer besides the thread.
    Tools run inside the server, so no Codex sandbox applies: `externalSandbox`."""
    return {
        "model": record.agent,
        "modelProvider": MODEL_PROVIDER,
        "cwd": info.cwd,
        "approvalPolicy": "on-request",
        "approvalsReviewer": "user",
        "sandbox": {"type": "externalSandbox", "networkAccess": "restricted"},
        "reasoningEffort": None,
        "serviceTier": None,
        "instructionSources": [],
    }


TURN_STATUS = {"completed": "completed", "failed": "failed", "cancelled": "interrupted"}


def turn_shape(turn: TurnRecord, items: list[JSON]) -> JSON:
    started = int(turn.created_at)
    completed = turn.completed_at
    return {
        "id": turn.turn_id,
        "items": items,
        "status": TURN_STATUS.get(turn.status, "inProgress"),
        "error": turn_error(turn.error) if turn.error else None,
        "startedAt": started,
        "completedAt": int(completed) if completed is not None else None,
        "durationMs": int((completed - turn.created_at) * 1000) if completed is not None else None,
    }


def live_turn(
    turn_id: str, status: str, *, started_at: float | None, error: dict[str, Any] | None = None
) -> JSON:
    """A turn as `turn/started` and `turn/completed` carry it: items are streamed apart."""
    final = status != "inProgress"
    now = time.time()
    return {
        "id": turn_id,
        "items": [],
        "status": status,
        "error": turn_error(error) if error else None,
        "startedAt": int(started_at) if started_at is not None else None,
        "completedAt": int(now) if final else None,
        "durationMs": int((now - started_at) * 1000) if final and started_at is not None else None,
    }


_ERROR_INFO = {
    "budget_exceeded": "sessionBudgetExceeded",
    "internal_error": "internalServerError",
    "invalid_input": "badRequest",
}


def turn_error(error: dict[str, Any]) -> JSON:
    code = str(error.get("code", "error"))
    return {
        "message": str(error.get("message") or code),
        "codexErrorInfo": _ERROR_INFO.get(code, "other"),
        "additionalDetails": f"threadline error code: {code}",
    }


# -- items -----------------------------------------------------------------------------------


def user_input(part: dict[str, Any]) -> JSON:
    kind = part.get("type")
    if kind == "image":
        return {"type": "image", "url": part.get("url", ""), "detail": None}
    if kind == "file":
        file_id = str(part.get("file_id", ""))
        return {"type": "mention", "name": part.get("filename") or file_id, "path": file_id}
    return {"type": "text", "text": str(part.get("text", "")), "text_elements": []}


def input_parts(values: list[Any]) -> list[ContentPart]:
    """Codex `UserInput`s as threadline input parts. Inputs that would make the server read
    its own files (`localImage`, `skill`, ...) are refused."""
    parts: list[ContentPart] = []
    for value in values:
        if not isinstance(value, dict):
            raise InvalidInputError("each input must be an object with a `type`")
        kind = value.get("type")
        if kind == "text" and isinstance(value.get("text"), str):
            parts.append(TextPart(text=value["text"]))
        elif kind == "image" and isinstance(value.get("url"), str):
            parts.append(ImagePart(url=value["url"]))
        elif kind == "fileId" and isinstance(value.get("fileId"), str):
            parts.append(FilePart(file_id=value["fileId"]))
        else:
            raise InvalidInputError(
                f"unsupported input type {str(kind)[:40]!r}: send text, image (by url) or fileId"
            )
    if not parts:
        raise InvalidInputError("input is empty")
    return parts


def tool_arguments(arguments: str) -> Any:
    if not arguments:
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments


def mcp_tool_call(
    tool_call_id: str, name: str, arguments: str, *, result: ToolResult | None = None
) -> JSON:
    """One tool call as an `mcpToolCall` item: in progress until its result is known."""
    shape: JSON = {
        "type": "mcpToolCall",
        "id": tool_call_id,
        "server": SERVER_NAME,
        "tool": name,
        "arguments": tool_arguments(arguments),
        "status": "inProgress",
        "result": None,
        "error": None,
        "durationMs": None,
    }
    if result is not None:
        if result.outcome == "success":
            shape["status"] = "completed"
            shape["result"] = {
                "content": [{"type": "text", "text": result.output}],
                "structuredContent": None,
            }
        else:
            shape["status"] = "failed"
            shape["error"] = {"message": result.output}
    return shape


def collab_agent_call(
    child_id: str,
    sender_id: str,
    tool: str,
    status: str,
    agent_status: str,
    *,
    message: str | None = None,
) -> JSON:
    """A child thread as a `collabAgentToolCall` item, its id derived from the child's."""
    return {
        "type": "collabAgentToolCall",
        "id": f"subagent_{child_id}",
        "tool": tool,
        "status": status,
        "senderThreadId": sender_id,
        "receiverThreadIds": [child_id],
        "prompt": None,
        "model": None,
        "reasoningEffort": None,
        "agentsStates": {child_id: {"status": agent_status, "message": message}},
    }


def item_shape(item_type: str, item_id: str, content: dict[str, Any]) -> JSON | None:
    """The `ThreadItem` of a threadline item given as its type, id and content (the form
    events carry), or None for kinds the protocol has no item for (tool calls are shaped
    from their call and result together)."""
    if item_type == "user_message":
        return {
            "type": "userMessage",
            "id": item_id,
            "content": [user_input(p) for p in content.get("content", [])],
        }
    if item_type == "agent_message":
        return {
            "type": "agentMessage",
            "id": item_id,
            "text": content.get("text", ""),
            "phase": None,
        }
    if item_type == "reasoning":
        text = content.get("text", "")
        return {
            "type": "reasoning",
            "id": item_id,
            "summary": [],
            "content": [text] if text else [],
        }
    if item_type == "plan" and isinstance(content.get("text"), str):
        return {"type": "plan", "id": item_id, "text": content["text"]}
    return None


def history_items(items: Iterable[Item]) -> list[JSON]:
    """Stored items as `ThreadItem`s, in order; a tool call appears once, with its result."""
    items = list(items)
    results = {
        i.payload.tool_call_id: i.payload for i in items if isinstance(i.payload, ToolResult)
    }
    waiting = {  # a child still waited for, by its latest `subagent` item
        i.payload.thread_id: i
        for i in items
        if isinstance(i.payload, Subagent) and i.payload.spawned_by not in results
    }
    shaped: list[JSON] = []
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall):
            shaped.append(
                mcp_tool_call(
                    payload.tool_call_id or item.item_id,
                    payload.name,
                    payload.arguments,
                    result=results.get(payload.tool_call_id),
                )
            )
        elif isinstance(payload, Subagent) and waiting.get(payload.thread_id) is item:
            shaped.append(
                collab_agent_call(
                    payload.thread_id, item.thread_id, "wait", "inProgress", "running"
                )
            )
        elif isinstance(payload, UserMessage | AgentMessage | Reasoning):
            shape = item_shape(item.type, item.item_id, _content(item))
            if shape is not None:
                shaped.append(shape)
    return shaped


def _content(item: Item) -> dict[str, Any]:
    return item.to_dict()["content"]


def preview(items: Sequence[Item]) -> str:
    for item in items:
        if isinstance(item.payload, UserMessage):
            return item.text[:200]
    return ""


def turns_shape(turns: Sequence[TurnRecord], items: Sequence[Item]) -> list[JSON]:
    by_turn: dict[str, list[Item]] = {}
    for item in items:
        if item.turn_id is not None:
            by_turn.setdefault(item.turn_id, []).append(item)
    return [turn_shape(turn, history_items(by_turn.get(turn.turn_id, []))) for turn in turns]


# -- usage and models ------------------------------------------------------------------------


def token_breakdown(usage: dict[str, Any]) -> JSON:
    input_tokens = int(usage.get("input_tokens", 0))
    output_tokens = int(usage.get("output_tokens", 0))
    return {
        "inputTokens": input_tokens,
        "cachedInputTokens": int(usage.get("cached_input_tokens", 0)),
        "outputTokens": output_tokens,
        "reasoningOutputTokens": int(usage.get("reasoning_tokens", 0)),
        "totalTokens": input_tokens + output_tokens,
    }


def model_entry(name: str, instructions: str | None, *, is_default: bool) -> JSON:
    description = (instructions or "").strip().split("\n", 1)[0][:200]
    return {
        "id": name,
        "model": name,
        "displayName": name,
        "description": description or f"the {name} agent",
        "hidden": False,
        "isDefault": is_default,
        "defaultReasoningEffort": "medium",
        "supportedReasoningEfforts": [
            {"reasoningEffort": "medium", "description": "the agent's own setting"}
        ],
        "inputModalities": ["text", "image"],
        "supportsPersonality": False,
        "upgrade": None,
    }
