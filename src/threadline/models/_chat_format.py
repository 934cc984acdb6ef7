"""Turn a `ModelRequest` into the Chat Completions wire shape shared by the chat backends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from threadline.types import (
    MODEL_VISIBLE_PHASES,
    AgentMessage,
    FilePart,
    ImagePart,
    Item,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

from ._attachments import attached_text, attachment, data_url, file_name, unreadable
from ._protocol import AttachedFile, ModelRequest, ToolSpec

ChatMessage = dict[str, Any]
SchemaDialect = Literal["openai", "llama"]


def chat_messages(request: ModelRequest) -> list[ChatMessage]:
    """The request's instructions and history as Chat Completions `messages`."""
    messages: list[ChatMessage] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    # The turn of the assistant message at the end of `messages`, so tool calls join only the
    # text the model produced in the same step.
    assistant_turn: str | None = None
    for item in request.items:
        payload = item.payload
        if item.status != "completed" and not isinstance(payload, ToolResult):
            continue
        if isinstance(payload, UserMessage):
            messages.append({"role": "user", "content": _user_content(payload, request.files)})
        elif isinstance(payload, AgentMessage):
            messages.append({"role": "assistant", "content": payload.text})
            assistant_turn = item.turn_id
            continue
        elif isinstance(payload, ToolCall):
            _append_tool_call(messages, item, payload, assistant_turn)
            assistant_turn = item.turn_id
            continue
        elif isinstance(payload, ToolResult):
            messages.append(
                {"role": "tool", "tool_call_id": payload.tool_call_id, "content": payload.output}
            )
        elif isinstance(payload, SystemEvent) and payload.phase in MODEL_VISIBLE_PHASES:
            messages.append({"role": "user", "content": payload.message})
        else:
            # Reasoning is the model's own scratchpad and errors/other events are for people;
            # skipping them keeps an assistant message and its tool calls adjacent.
            continue
        assistant_turn = None
    return messages


def chat_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as Chat Completions `tools`."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]


def response_format(
    output_schema: dict[str, Any] | None,
    *,
    dialect: SchemaDialect = "openai",
) -> dict[str, Any] | None:
    """The `response_format` that asks for JSON matching `output_schema`, or None.

    `openai` is the `json_schema` form of OpenAI and most compatible servers; `llama` is
    llama-cpp-python's own `json_object` + `schema` form, which it enforces with a grammar.
    """
    if output_schema is None:
        return None
    if dialect == "llama":
        return {"type": "json_object", "schema": output_schema}
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": output_schema}}


def _user_content(
    message: UserMessage, files: Mapping[str, AttachedFile]
) -> str | list[dict[str, Any]]:
    parts = message.content
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append(
                {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}
            )
        elif isinstance(part, FilePart):
            content.append(_file_content(part, files))
    return content


def _file_content(part: FilePart, files: Mapping[str, AttachedFile]) -> dict[str, Any]:
    """An attached file as Chat Completions takes it: text inline, an image or a PDF by
    value (a thread's file id means nothing to the provider). A text-only backend renders
    the last two as markers (see `_local_prompt`)."""
    kind, file = attachment(part, files)
    if file is not None and kind == "text":
        return {"type": "text", "text": attached_text(file)}
    if file is not None and kind == "image":
        return {"type": "image_url", "image_url": {"url": data_url(file), "detail": "auto"}}
    if file is not None and kind == "pdf":
        return {
            "type": "file",
            "file": {"filename": file_name(file), "file_data": data_url(file)},
        }
    return {"type": "text", "text": unreadable(part, file)}


def _append_tool_call(
    messages: list[ChatMessage],
    item: Item,
    call: ToolCall,
    assistant_turn: str | None,
) -> None:
    wire_call = {
        "id": call.tool_call_id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and assistant_turn == item.turn_id:
        last.setdefault("tool_calls", []).append(wire_call)
        return
    messages.append({"role": "assistant", "content": None, "tool_calls": [wire_call]})
