"""Stored threadline items in the shapes of OpenAI's Responses and Conversations items.

Tools the server runs (the agent's own) become `mcp_call` items of server "threadline"; tools
the client passed in a request become `function_call` / `function_call_output` items;
approvals become `mcp_approval_request` / `mcp_approval_response`. Item kinds with no
equivalent (system events, errors, choices, plans) are left out of item listings.

History that a client sent with a request is stored before the turn, outside it, and marked
by an `IMPORTED_PHASE` system event after it (see `threadline.types.IMPORTED_PHASE`): its
messages are listed like any other, its calls as `function_call`s, under the client's own
call_id even where the thread stores the call under a fresh one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from threadline.types import (
    DELETED_PHASE,
    IMPORTED_PHASE,
    SUMMARY_PHASE,
    AgentMessage,
    ApprovalRequest,
    ApprovalResponse,
    ContentPart,
    ImagePart,
    Item,
    ItemStatus,
    Reasoning,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

from .._errors import invalid

if TYPE_CHECKING:
    from ._profile import Profile

SERVER_LABEL = "threadline"
WireItem = dict[str, Any]


def wire_status(status: ItemStatus | str) -> str:
    """Responses item status: failed or cancelled items are `incomplete`."""
    return {"in_progress": "in_progress", "completed": "completed"}.get(status, "incomplete")


def output_text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def reasoning_text_part(text: str) -> dict[str, Any]:
    return {"type": "reasoning_text", "text": text}


def assistant_message(item_id: str, text: str | None, status: str) -> WireItem:
    """An assistant message; `text=None` while it has no content part yet."""
    content = [] if text is None else [output_text_part(text)]
    return {
        "type": "message",
        "id": item_id,
        "role": "assistant",
        "status": status,
        "content": content,
    }


def reasoning(item_id: str, text: str | None, status: str) -> WireItem:
    content = [] if text is None else [reasoning_text_part(text)]
    return {
        "type": "reasoning",
        "id": item_id,
        "summary": [],
        "content": content,
        "encrypted_content": None,
        "status": status,
    }


def user_message(item_id: str, parts: Sequence[ContentPart], status: str = "completed") -> WireItem:
    return {
        "type": "message",
        "id": item_id,
        "role": "user",
        "status": status,
        "content": [input_part(p) for p in parts],
    }


def input_part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "input_text", "text": part.text}
    if isinstance(part, ImagePart):
        return {
            "type": "input_image",
            "image_url": part.url,
            "detail": part.detail,
            "file_id": None,
        }
    return {"type": "input_file", "file_id": part.file_id, "filename": part.filename}


def function_call(item_id: str, call: ToolCall, status: str) -> WireItem:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.tool_call_id,
        "name": call.name,
        "arguments": call.arguments,
        "status": status,
    }


def function_call_output(item_id: str, result: ToolResult) -> WireItem:
    return {
        "type": "function_call_output",
        "id": item_id,
        "call_id": result.tool_call_id,
        "output": result.output,
        "status": "completed",
    }


def mcp_call(
    item_id: str, call: ToolCall, result: ToolResult | None, approval_request_id: str | None
) -> WireItem:
    """A call of one of the agent's tools, with its result once there is one."""
    item: WireItem = {
        "type": "mcp_call",
        "id": item_id,
        "server_label": SERVER_LABEL,
        "name": call.name,
        "arguments": call.arguments,
        "output": None,
        "error": None,
        "approval_request_id": approval_request_id,
        "status": "in_progress" if result is None else "completed",
    }
    if result is not None:
        if result.is_error:
            item["status"] = "failed"
            item["error"] = {"type": "mcp_tool_execution_error", "content": result.output}
        else:
            item["output"] = result.output
    return item


def mcp_approval_request(item_id: str, request: ApprovalRequest) -> WireItem:
    return {
        "type": "mcp_approval_request",
        "id": item_id,
        "server_label": SERVER_LABEL,
        "name": request.name,
        "arguments": request.arguments,
    }


def mcp_approval_response(
    item_id: str, response: ApprovalResponse, approval_request_id: str
) -> WireItem:
    return {
        "type": "mcp_approval_response",
        "id": item_id,
        "approval_request_id": approval_request_id,
        "approve": response.decision == "approved",
        "reason": response.reason,
    }


COMPACTION_PREFIX = "tl1."


def compaction(item_id: str, summary: SystemEvent) -> WireItem:
    """A `compaction` item: a summary that a later request can send back in place of the
    conversation it summarises. Its content is opaque to clients but not secret (it is their
    own conversation); a forged one adds text the model reads as a user message would."""
    encoded = base64.urlsafe_b64encode(orjson.dumps({"summary": summary.message}))
    return {
        "type": "compaction",
        "id": item_id,
        "encrypted_content": COMPACTION_PREFIX + encoded.decode().rstrip("="),
    }


def compaction_summary(entry: Mapping[str, Any], param: str) -> SystemEvent:
    """The summary a `compaction` item sent back as input stands for. It covers nothing that
    the conversation holds: the model reads it first, then everything else."""
    content = entry.get("encrypted_content")
    summary: Any = None
    if isinstance(content, str) and content.startswith(COMPACTION_PREFIX):
        encoded = content[len(COMPACTION_PREFIX) :]
        try:
            decoded = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            summary = decoded.get("summary") if isinstance(decoded, dict) else None  # type: ignore[union-attr]
        except (binascii.Error, ValueError):
            summary = None
    if not isinstance(summary, str) or not summary:
        raise invalid(
            "encrypted_content is not a compaction of this server; send the compaction item "
            "as /v1/responses/compact returned it",
            param=f"{param}.encrypted_content",
        )
    data: dict[str, Any] = {"through_seq": 0}
    if isinstance(entry.get("id"), str):
        data["compaction_id"] = entry["id"]
    return SystemEvent(phase=SUMMARY_PHASE, message=summary, data=data)


class ItemMapper:
    """Maps the stored items of one thread, in the shapes of `profile`. `external_calls` are
    the tool call ids that the client runs (function tools); every other call is one of the
    agent's (`mcp_call`)."""

    def __init__(
        self, items: Sequence[Item], external_calls: frozenset[str], profile: Profile
    ) -> None:
        self.profile = profile
        self.deleted = {
            str(i.payload.data.get("item_id"))
            for i in items
            if isinstance(i.payload, SystemEvent) and i.payload.phase == DELETED_PHASE
        }
        self.items = [i for i in items if i.item_id not in self.deleted]
        self.external_calls = external_calls
        self._client_call_ids: dict[str, str] = {}  # stored id -> the client's, if it differs
        for item in items:
            payload = item.payload
            if isinstance(payload, SystemEvent) and payload.phase == IMPORTED_PHASE:
                self._client_call_ids.update(payload.data.get("call_ids") or {})
        self.results: dict[str, ToolResult] = {}
        self.approval_ids: dict[str, str] = {}  # tool_call_id -> approval request item id
        for item in items:
            payload = item.payload
            if isinstance(payload, ToolResult):
                self.results[payload.tool_call_id] = payload
            elif isinstance(payload, ApprovalRequest):
                self.approval_ids[payload.tool_call_id] = item.item_id

    def client_call_id(self, tool_call_id: str) -> str:
        """The call id the client knows a stored call by: its own, for a call it imported."""
        return self._client_call_ids.get(tool_call_id, tool_call_id)

    def wire(self, item: Item) -> WireItem | None:
        """The wire form of one stored item, or None when it has none of its own (an agent
        tool's result is part of its `mcp_call`)."""
        payload = item.payload
        status = wire_status(item.status)
        if isinstance(payload, UserMessage):
            return user_message(item.item_id, payload.content, status)
        if isinstance(payload, AgentMessage):
            return assistant_message(item.item_id, payload.text, status)
        if isinstance(payload, Reasoning):
            return self.profile.reasoning(item.item_id, payload.text, status)
        if isinstance(payload, ToolCall):
            if payload.tool_call_id in self.external_calls:
                client_id = self.client_call_id(payload.tool_call_id)
                return function_call(item.item_id, replace(payload, tool_call_id=client_id), status)
            return self.profile.tool_call(
                item.item_id,
                payload,
                self.results.get(payload.tool_call_id),
                self.approval_ids.get(payload.tool_call_id),
            )
        if isinstance(payload, ToolResult):
            if payload.tool_call_id in self.external_calls:
                client_id = self.client_call_id(payload.tool_call_id)
                return function_call_output(item.item_id, replace(payload, tool_call_id=client_id))
            return None
        if isinstance(payload, ApprovalRequest):
            return self.profile.approval_request(item.item_id, payload)
        if isinstance(payload, ApprovalResponse):
            request_id = self.approval_ids.get(payload.tool_call_id)
            if request_id is None:
                return None
            return self.profile.approval_response(item.item_id, payload, request_id)
        return None

    def listing(self) -> list[WireItem]:
        """Every item that has a wire form, oldest first."""
        return [w for w in (self.wire(i) for i in self.items) if w is not None]


def external_call_ids(
    items: Sequence[Item], external_names: Mapping[str, frozenset[str]]
) -> frozenset[str]:
    """The ids of the calls the client runs: calls whose turn gave the client a function tool
    of that name (`external_names` maps turn id to names), and calls a client added."""
    found: set[str] = set()
    for item in items:
        payload = item.payload
        if isinstance(payload, ToolCall) and (
            item.turn_id is None
            or payload.name in (external_names.get(item.turn_id) or frozenset())
        ):
            found.add(payload.tool_call_id)
    return frozenset(found)
