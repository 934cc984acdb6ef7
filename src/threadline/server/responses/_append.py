"""Conversation items that a client adds or removes without a response: parsed into threadline
payloads and written to the thread's history by the runtime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline import Thread
from threadline.types import (
    AgentMessage,
    Item,
    Payload,
    ToolCall,
    ToolResult,
    UserMessage,
)

from .._errors import APIError, invalid
from ._input import assistant_text, output_text, user_parts
from ._wire_items import compaction_summary

MAX_ITEMS = 20


def parse_items(
    value: Any,
    known_calls: dict[str, str],
    *,
    param: str = "items",
    max_items: int | None = MAX_ITEMS,
) -> list[Payload]:
    """Conversation items as payloads. `known_calls` maps the thread's call ids to tool names
    (a function call output must answer a call of the thread or of these items). A
    `compaction` item becomes the summary it carries."""
    if not isinstance(value, list):
        raise invalid(f"{param} must be a list", param=param)
    if max_items is not None and len(value) > max_items:  # type: ignore[arg-type]
        raise invalid(f"at most {max_items} items can be added at once", param=param)
    calls = dict(known_calls)
    payloads: list[Payload] = []
    for index, entry in enumerate(value):  # type: ignore[misc]
        where = f"{param}[{index}]"
        if not isinstance(entry, dict):
            raise invalid("each item must be an object", param=where)
        payload = _payload(entry, calls, where)  # type: ignore[arg-type]
        if payload is not None:
            payloads.append(payload)
            if isinstance(payload, ToolCall):
                calls[payload.tool_call_id] = payload.name
    return payloads


def _payload(entry: dict[str, Any], calls: dict[str, str], where: str) -> Payload | None:
    kind = entry.get("type", "message" if "role" in entry else None)
    if kind == "message":
        role, content = entry.get("role"), entry.get("content")
        if role == "user":
            return UserMessage(content=user_parts(content, where))
        if role == "assistant":
            return AgentMessage(text=assistant_text(content, where))
        if role in ("system", "developer"):
            return None  # instructions are the agent's, never the conversation's
        raise invalid(
            "a message's role must be user, assistant, system or developer", param=f"{where}.role"
        )
    if kind == "function_call":
        call_id, name = _text(entry, "call_id", where), _text(entry, "name", where)
        arguments = entry.get("arguments", "")
        if not isinstance(arguments, str):
            raise invalid("arguments must be a string of JSON", param=f"{where}.arguments")
        return ToolCall(tool_call_id=call_id, name=name, arguments=arguments)
    if kind == "function_call_output":
        call_id = _text(entry, "call_id", where)
        if call_id not in calls:
            raise invalid(
                f"No tool call found for function call output with call_id {call_id}.", param=where
            )
        return ToolResult(
            tool_call_id=call_id,
            name=calls[call_id],
            output=output_text(entry.get("output"), where),
        )
    if kind == "reasoning":
        return None  # the model's own notes; other models cannot read them
    if kind == "compaction":
        return compaction_summary(entry, where)
    raise invalid(
        f"items of type {str(kind)[:60]!r} cannot be added to a conversation", param=f"{where}.type"
    )


def _text(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise invalid(f"{key} must be a non-empty string", param=f"{where}.{key}")
    return value


async def append(thread: Thread, payloads: Sequence[Payload]) -> list[Item]:
    """Store `payloads` at the end of the thread's history, outside any turn."""
    writer = getattr(thread, "append", None)
    if writer is None:
        raise _unsupported("adding items to a conversation")
    return await writer(list(payloads))


async def remove(thread: Thread, item_id: str) -> bool:
    """Take an item out of the thread's history (the model no longer sees it)."""
    remover = getattr(thread, "delete_item", None)
    if remover is None:
        raise _unsupported("deleting conversation items")
    return bool(await remover(item_id))


def _unsupported(what: str) -> APIError:
    return APIError(
        501,
        f"{what} needs a threadline runtime with Thread.append and Thread.delete_item",
        code="not_implemented",
    )
