"""The two dialects of the Responses API the server speaks. They differ only where threadline
has things OpenAI's API has no standard item for: the agent's own tools and its approval
pauses, and the name of reasoning text events.

OpenAI's clients (the `openai` SDK, the Agents SDK) read the agent's tools as `mcp_call`
items of server "threadline" and approval pauses as `mcp_approval_request` items. Open
Responses requires every item and event type it does not define to carry the implementor's
prefix, so its clients get `threadline:tool_call`, `threadline:approval_request` and
`threadline:approval_response` items instead, reasoning text as `response.reasoning.delta`,
and no `response.mcp_call.*` events.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.types import ApprovalRequest, ApprovalResponse, ToolCall, ToolResult

from ._wire_items import (
    WireItem,
    mcp_approval_request,
    mcp_approval_response,
    mcp_call,
    reasoning,
)

PREFIX = "threadline:"
TOOL_CALL = PREFIX + "tool_call"
APPROVAL_REQUEST = PREFIX + "approval_request"
APPROVAL_RESPONSE = PREFIX + "approval_response"


@dataclass(frozen=True, kw_only=True)
class Profile:
    """Which dialect a response is written in: OpenAI's (the default) or Open Responses'."""

    open_responses: bool = False

    @property
    def tool_call_type(self) -> str:
        return TOOL_CALL if self.open_responses else "mcp_call"

    @property
    def tool_call_events(self) -> bool:
        """Whether an agent tool's progress has events of its own (`response.mcp_call.*`)."""
        return not self.open_responses

    @property
    def reasoning_events(self) -> tuple[str, str]:
        """The types of reasoning text's delta and done events."""
        if self.open_responses:
            return "response.reasoning.delta", "response.reasoning.done"
        return "response.reasoning_text.delta", "response.reasoning_text.done"

    def reasoning(self, item_id: str, text: str | None, status: str) -> WireItem:
        item = reasoning(item_id, text, status)
        if self.open_responses:
            # Open Responses types it as an optional string: absent, never null.
            del item["encrypted_content"]
        return item

    def tool_call(
        self,
        item_id: str,
        call: ToolCall,
        result: ToolResult | None,
        approval_request_id: str | None,
    ) -> WireItem:
        """A call of one of the agent's tools, with its result once there is one."""
        if not self.open_responses:
            return mcp_call(item_id, call, result, approval_request_id)
        status = "in_progress" if result is None else "completed"
        if result is not None and result.is_error:
            status = "failed"
        return {
            "type": TOOL_CALL,
            "id": item_id,
            "status": status,
            "call_id": call.tool_call_id,
            "name": call.name,
            "arguments": call.arguments,
            "output": None if result is None or result.is_error else result.output,
            "error": result.output if result is not None and result.is_error else None,
            "approval_request_id": approval_request_id,
        }

    def approval_request(self, item_id: str, request: ApprovalRequest) -> WireItem:
        if not self.open_responses:
            return mcp_approval_request(item_id, request)
        return {
            "type": APPROVAL_REQUEST,
            "id": item_id,
            "status": "completed",
            "call_id": request.tool_call_id,
            "name": request.name,
            "arguments": request.arguments,
        }

    def approval_response(
        self, item_id: str, response: ApprovalResponse, approval_request_id: str
    ) -> WireItem:
        if not self.open_responses:
            return mcp_approval_response(item_id, response, approval_request_id)
        return {
            "type": APPROVAL_RESPONSE,
            "id": item_id,
            "status": "completed",
            "approval_request_id": approval_request_id,
            "approve": response.decision == "approved",
            "reason": response.reason,
        }

    def cut_status(self, item_type: str) -> str:
        """The status of an item the response ended in the middle of."""
        return "failed" if item_type in ("mcp_call", TOOL_CALL) else "incomplete"


OPENAI = Profile()
OPEN_RESPONSES = Profile(open_responses=True)
