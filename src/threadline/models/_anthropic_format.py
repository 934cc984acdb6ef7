"""Turn a `ModelRequest` into the `messages` of Anthropic's Messages API."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
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

from ._history import ANTHROPIC, AssistantStep, history_segments
from ._protocol import ModelRequest, ToolSpec

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
            _append(messages, "user", _user_blocks(segment))
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


def _user_blocks(message: UserMessage) -> list[Block]:
    blocks: list[Block] = []
    for part in message.content:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append({"type": "image", "source": _image_source(part.url)})
        elif isinstance(part, FilePart):
            # A stored file id means nothing to a provider, so the model is told one was attached.
            label = part.filename or part.file_id
            blocks.append({"type": "text", "text": f"[attached file: {label}]"})
    return blocks


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
