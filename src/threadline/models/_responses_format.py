"""Turn a `ModelRequest` into the input of OpenAI's Responses API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from threadline.types import FilePart, ImagePart, SystemEvent, TextPart, ToolResult, UserMessage

from ._attachments import attached_text, attachment, data_url, file_name, unreadable
from ._history import OPENAI_RESPONSES, AssistantStep, history_segments
from ._protocol import AttachedFile, ModelRequest, ToolSpec

InputItem = dict[str, Any]


def responses_input(request: ModelRequest) -> list[InputItem]:
    """The request's history as Responses `input` items (instructions go separately)."""
    wire: list[InputItem] = []
    for segment in history_segments(request.items, OPENAI_RESPONSES):
        if isinstance(segment, UserMessage):
            wire.append({"role": "user", "content": _user_content(segment, request.files)})
        elif isinstance(segment, ToolResult):
            wire.append(
                {
                    "type": "function_call_output",
                    "call_id": segment.tool_call_id,
                    "output": segment.output,
                }
            )
        elif isinstance(segment, SystemEvent):
            wire.append({"role": "user", "content": segment.message})
        else:
            wire.extend(_step_items(segment))
    return wire


def responses_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as Responses function tools. `strict` is off: the Responses API turns it on
    when it is left out, and strict mode refuses most schemas written for other providers."""
    return [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
            "strict": False,
        }
        for t in tools
    ]


def responses_text_format(output_schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """The `text` option that asks for JSON matching `output_schema`, or None."""
    if output_schema is None:
        return None
    return {
        "format": {
            "type": "json_schema",
            "name": "output",
            "schema": output_schema,
            "strict": False,
        }
    }


def _user_content(
    message: UserMessage, files: Mapping[str, AttachedFile]
) -> str | list[dict[str, Any]]:
    parts = message.content
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        return parts[0].text
    content: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                content.append({"type": "input_text", "text": part.text})
        elif isinstance(part, ImagePart):
            content.append({"type": "input_image", "image_url": part.url, "detail": part.detail})
        elif isinstance(part, FilePart):
            content.append(_file_content(part, files))
    return content


def _file_content(part: FilePart, files: Mapping[str, AttachedFile]) -> dict[str, Any]:
    """An attached file as the Responses API takes it: text inline, an image or a PDF by
    value (a thread's file id means nothing to the provider)."""
    kind, file = attachment(part, files)
    if file is not None and kind == "text":
        return {"type": "input_text", "text": attached_text(file)}
    if file is not None and kind == "image":
        return {"type": "input_image", "image_url": data_url(file), "detail": "auto"}
    if file is not None and kind == "pdf":
        return {"type": "input_file", "filename": file_name(file), "file_data": data_url(file)}
    return {"type": "input_text", "text": unreadable(part, file)}


def _step_items(step: AssistantStep) -> list[InputItem]:
    """The step's output items in their original order, linked to its reasoning by id. A
    reasoning item whose following item is gone is left out: the API refuses it alone."""
    calls = {call.tool_call_id: call for call in step.calls}
    placed: list[tuple[InputItem, bool]] = []  # (item, came from the skeleton)
    text_placed = False
    for entry in step.skeleton:
        kind = entry.get("type")
        if kind == "reasoning":
            placed.append((entry, True))
        elif kind == "message" and step.text and not text_placed:
            message = _message(step.text)
            message.update(id=entry.get("id"), status="completed")
            if entry.get("phase") is not None:
                message["phase"] = entry["phase"]
            placed.append((message, True))
            text_placed = True
        elif kind == "function_call" and entry.get("call_id") in calls:
            call = calls.pop(entry["call_id"])
            placed.append(
                (
                    {
                        "type": "function_call",
                        "id": entry.get("id"),
                        "call_id": call.tool_call_id,
                        "name": call.name,
                        "arguments": call.arguments,
                    },
                    True,
                )
            )
    if step.text and not text_placed:
        placed.append(({"role": "assistant", "content": step.text}, False))
    for call in calls.values():
        placed.append(
            (
                {
                    "type": "function_call",
                    "call_id": call.tool_call_id,
                    "name": call.name,
                    "arguments": call.arguments,
                },
                False,
            )
        )
    items: list[InputItem] = []
    for index, (item, _) in enumerate(placed):
        if item.get("type") != "reasoning" or _followed_by_linked(placed, index):
            items.append(item)
    return items


def _message(text: str) -> InputItem:
    return {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _followed_by_linked(placed: list[tuple[InputItem, bool]], index: int) -> bool:
    for item, linked in placed[index + 1 :]:
        if item.get("type") != "reasoning":
            return linked
    return False
