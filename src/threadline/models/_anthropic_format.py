"""Turn a `ModelRequest` into the `messages` of Anthropic's Messages API."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from threadline.types import (
    FilePart,
    ImagePart,
    SystemEvent,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)

from ._attachments import attached_text, attachment, base64_data, unreadable
from ._history import ANTHROPIC, AssistantStep, history_segments
from ._protocol import AttachedFile, ModelRequest, ToolSpec

Block = dict[str, Any]
Message = dict[str, Any]

_DATA_URL = re.compile(r"^data:(?P<media_type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)


def anthropic_messages(request: ModelRequest) -> list[Message]:
    """The request's history as Messages API `messages` (the instructions go in `system`).

    Consecutive inputs of one role become one message, with tool results first, as the API
    wants; a failed tool's result is marked `is_error`.
    """
    messages: list[Message] = []
    for segment in history_segments(request.items, ANTHROPIC):
        if isinstance(segment, UserMessage):
            _append(messages, "user", _user_blocks(segment, request.files))
        elif isinstance(segment, ToolResult):
            block: Block = {
                "type": "tool_result",
                "tool_use_id": segment.tool_call_id,
                "content": segment.output,
            }
            if segment.is_error:
                block["is_error"] = True
            _append(messages, "user", [block])
        elif isinstance(segment, SystemEvent):
            _append(messages, "user", [{"type": "text", "text": segment.message}])
        else:
            _append(messages, "assistant", _step_blocks(segment))
    return messages


def anthropic_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as Messages API `tools`."""
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]


def _append(messages: list[Message], role: str, blocks: list[Block]) -> None:
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        content = cast(list[Block], messages[-1]["content"])
        if role == "user" and blocks[0]["type"] == "tool_result":
            # Tool results must open a user message; a steering input may already be there.
            at = sum(1 for b in content if b["type"] == "tool_result")
            content[at:at] = blocks
        else:
            content.extend(blocks)
        return
    messages.append({"role": role, "content": list(blocks)})


def _user_blocks(message: UserMessage, files: Mapping[str, AttachedFile]) -> list[Block]:
    blocks: list[Block] = []
    for part in message.content:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append({"type": "image", "source": _image_source(part.url)})
        elif isinstance(part, FilePart):
            blocks.append(_file_block(part, files))
    return blocks


def _file_block(part: FilePart, files: Mapping[str, AttachedFile]) -> Block:
    """An attached file as the Messages API takes it: text and PDFs as document blocks, an
    image as an image block (a thread's file id means nothing to the provider)."""
    kind, file = attachment(part, files)
    if file is not None and kind == "text":
        text = attached_text(file).split("\n", 1)[1]
        return {
            "type": "document",
            "source": {"type": "text", "media_type": "text/plain", "data": text},
            "title": file.path,
        }
    if file is not None and kind == "pdf":
        return {
            "type": "document",
            "source": {
                "type": "base64",
                "media_type": "application/pdf",
                "data": base64_data(file),
            },
            "title": file.path,
        }
    if file is not None and kind == "image":
        source = {"type": "base64", "media_type": file.media_type, "data": base64_data(file)}
        return {"type": "image", "source": source}
    return {"type": "text", "text": unreadable(part, file)}


def _image_source(url: str) -> dict[str, str]:
    match = _DATA_URL.match(url)
    if match is not None:
        return {"type": "base64", "media_type": match["media_type"], "data": match["data"]}
    return {"type": "url", "url": url}


def _step_blocks(step: AssistantStep) -> list[Block]:
    """The step's blocks in their original order: thinking blocks exactly as the model gave
    them (their signatures are checked), then text and tool uses where they were."""
    calls = {call.tool_call_id: call for call in step.calls}
    blocks: list[Block] = []
    text_placed = False
    for entry in step.skeleton:
        kind = entry.get("type")
        if kind in ("thinking", "redacted_thinking"):
            blocks.append(entry)
        elif kind == "text" and step.text and not text_placed:
            blocks.append({"type": "text", "text": step.text})
            text_placed = True
        elif kind == "tool_use" and entry.get("id") in calls:
            blocks.append(_tool_use(calls.pop(entry["id"])))
    if step.text and not text_placed:
        blocks.append({"type": "text", "text": step.text})
    blocks.extend(_tool_use(call) for call in calls.values())
    return blocks


def _tool_use(call: ToolCall) -> Block:
    return {
        "type": "tool_use",
        "id": call.tool_call_id,
        "name": call.name,
        "input": _arguments(call.arguments),
    }


def _arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return cast(dict[str, Any], value)
    # The API takes only an object; keep what the model wrote so it can see its mistake.
    return {"arguments": text}
