"""A Responses request's `input`, parsed in order into entries: messages, summaries of earlier
history (`compaction` items), function calls and their outputs, decisions on pending
approvals, and items named by id. What they add to a
thread is decided by `_history`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from threadline.types import (
    AgentMessage,
    ContentPart,
    InvalidInputError,
    SystemEvent,
    TextPart,
    ToolCall,
    UserMessage,
    part_from_dict,
)

from .._errors import invalid
from ._profile import APPROVAL_REQUEST, APPROVAL_RESPONSE, TOOL_CALL
from ._wire_items import compaction_summary


@dataclass(frozen=True, kw_only=True)
class Entry:
    where: str  # the input item's place, `input[3]`, for errors
    item_id: str | None = None  # the id it carries, if any


@dataclass(frozen=True, kw_only=True)
class Message(Entry):
    payload: UserMessage | AgentMessage


@dataclass(frozen=True, kw_only=True)
class Summary(Entry):
    """A `compaction` item: the summary of the conversation before it."""

    payload: SystemEvent


@dataclass(frozen=True, kw_only=True)
class Call(Entry):
    call: ToolCall  # with the client's call_id


@dataclass(frozen=True, kw_only=True)
class Output(Entry):
    call_id: str
    output: str


@dataclass(frozen=True, kw_only=True)
class Decision(Entry):
    approval_request_id: str
    approve: bool
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Reference(Entry):
    """An item known only by its id: an `item_reference`, which must name a stored item, or
    an item of this server's own making sent back (reasoning, `mcp_*`), left out when the
    thread does not hold it: the model reads the messages that reported it."""

    required: bool


InputEntry = Message | Summary | Call | Output | Decision | Reference
_OWN_ITEMS = (
    "reasoning",
    "mcp_call",
    "mcp_approval_request",
    "mcp_list_tools",
    TOOL_CALL,
    APPROVAL_REQUEST,
)


def parse_input(value: Any) -> list[InputEntry]:
    """A request's `input` as entries, in order. Raises `APIError` (400) for anything
    malformed."""
    if isinstance(value, str):
        return [Message(where="input", payload=UserMessage(content=(TextPart(text=value),)))]
    if not isinstance(value, list):
        raise invalid("input must be a string or a list of input items", param="input")
    entries: list[InputEntry] = []
    for index, item in enumerate(value):  # type: ignore[misc]
        entry = parse_item(item, f"input[{index}]")
        if entry is not None:
            entries.append(entry)
    return entries


def parse_item(item: Any, where: str) -> InputEntry | None:
    """One input item as an entry (None for one that adds nothing: a system message)."""
    if not isinstance(item, dict):
        raise invalid("each input item must be an object", param=where)
    entry: dict[str, Any] = item  # type: ignore[assignment]
    kind = entry.get("type", "message" if "role" in entry else None)
    item_id = entry.get("id")
    if item_id is not None and (not isinstance(item_id, str) or not item_id):
        raise invalid("id must be a non-empty string", param=f"{where}.id")
    if kind == "message":
        return _message(entry, where, item_id)
    if kind == "function_call":
        arguments = entry.get("arguments", "")
        if not isinstance(arguments, str):
            raise invalid("arguments must be a string of JSON", param=f"{where}.arguments")
        call = ToolCall(
            tool_call_id=_string(entry, "call_id", where),
            name=_string(entry, "name", where),
            arguments=arguments,
        )
        return Call(where=where, item_id=item_id, call=call)
    if kind == "function_call_output":
        return Output(
            where=where,
            item_id=item_id,
            call_id=_string(entry, "call_id", where),
            output=output_text(entry.get("output"), where),
        )
    if kind in ("mcp_approval_response", APPROVAL_RESPONSE):
        approve = entry.get("approve")
        if not isinstance(approve, bool):
            raise invalid("approve must be true or false", param=f"{where}.approve")
        reason = entry.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise invalid("reason must be a string", param=f"{where}.reason")
        return Decision(
            where=where,
            item_id=item_id,
            approval_request_id=_string(entry, "approval_request_id", where),
            approve=approve,
            reason=reason,
        )
    if kind == "item_reference":
        return Reference(where=where, item_id=_string(entry, "id", where), required=True)
    if kind == "compaction":  # from /v1/responses/compact
        return Summary(where=where, item_id=item_id, payload=compaction_summary(entry, where))
    if kind in _OWN_ITEMS:
        return None if item_id is None else Reference(where=where, item_id=item_id, required=False)
    raise invalid(
        f"input items of type {str(kind)[:60]!r} are not supported by this server",
        param=f"{where}.type",
    )


def _message(entry: dict[str, Any], where: str, item_id: str | None) -> Message | None:
    role = entry.get("role")
    content = entry.get("content")
    if role == "user":
        return Message(
            where=where, item_id=item_id, payload=UserMessage(content=user_parts(content, where))
        )
    if role == "assistant":
        return Message(
            where=where, item_id=item_id, payload=AgentMessage(text=assistant_text(content, where))
        )
    if role in ("system", "developer"):
        # The agent's instructions are server configuration; a client cannot replace them.
        user_parts(content, where)
        return None
    raise invalid(
        "a message's role must be user, assistant, system or developer", param=f"{where}.role"
    )


def user_parts(content: Any, where: str) -> tuple[ContentPart, ...]:
    """A user message's content (a string, or a non-empty list of input parts)."""
    if isinstance(content, str):
        return (TextPart(text=content),)
    if not isinstance(content, list) or not content:
        raise invalid(
            "a message's content must be a string or a non-empty list of parts",
            param=f"{where}.content",
        )
    parts: list[ContentPart] = []
    for index, part in enumerate(content):  # type: ignore[misc]
        try:
            parts.append(part_from_dict(part))
        except InvalidInputError as exc:
            raise invalid(exc.message, param=f"{where}.content[{index}]") from None
    return tuple(parts)


def assistant_text(content: Any, where: str) -> str:
    """An assistant message's text: a string, or its output_text and refusal parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:  # type: ignore[misc]
            if isinstance(part, dict) and isinstance(part.get("text"), str):  # type: ignore[union-attr]
                texts.append(part["text"])  # type: ignore[index]
            elif isinstance(part, dict) and isinstance(part.get("refusal"), str):  # type: ignore[union-attr]
                texts.append(part["refusal"])  # type: ignore[index]
            else:
                raise invalid(
                    "assistant content parts must be output_text or refusal",
                    param=f"{where}.content",
                )
        return "".join(texts)
    raise invalid("content must be a string or a list of parts", param=f"{where}.content")


def output_text(output: Any, where: str) -> str:
    """A function call's output as the text the model reads."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and all(isinstance(p, dict) for p in output):  # type: ignore[misc]
        texts = [p.get("text") for p in output]  # type: ignore[union-attr]
        if all(isinstance(t, str) for t in texts) and all(
            p.get("type") in ("input_text", "output_text", "text") for p in output
        ):  # type: ignore[union-attr]
            return "".join(texts)  # type: ignore[arg-type]
        return orjson.dumps(output).decode()
    raise invalid(
        "a function call's output must be a string or a list of content parts",
        param=f"{where}.output",
    )


def _string(entry: dict[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise invalid(f"{key} must be a non-empty string", param=f"{where}.{key}")
    return value
