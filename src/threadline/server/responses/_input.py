"""A Responses request's `input`, sorted into what threadline does with it: the new user
message, decisions on pending approvals, results of the client's function calls, and echoes
of items the thread already holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from threadline.types import InvalidInputError, part_from_dict, part_to_dict

from .._errors import APIError, invalid
from ._profile import APPROVAL_REQUEST, APPROVAL_RESPONSE, TOOL_CALL


@dataclass(frozen=True, kw_only=True)
class Decision:
    approval_request_id: str
    approve: bool
    reason: str | None = None


@dataclass(kw_only=True)
class InputPlan:
    """What one request's input asks for."""

    parts: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])  # new message
    decisions: list[Decision] = field(default_factory=list[Decision])
    outputs: dict[str, str] = field(default_factory=dict[str, str])  # call_id -> output
    echoed_ids: list[str] = field(default_factory=list[str])  # items the thread must hold
    echoed_calls: list[str] = field(default_factory=list[str])  # function calls it must hold
    history: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])

    @property
    def resolves(self) -> bool:
        return bool(self.decisions or self.outputs)


def parse_input(value: Any) -> InputPlan:
    """Sort a request's `input`. Raises `APIError` (400) for anything malformed."""
    plan = InputPlan()
    if isinstance(value, str):
        plan.parts.append({"type": "text", "text": value})
        return plan
    if not isinstance(value, list):
        raise invalid("input must be a string or a list of input items", param="input")
    for index, entry in enumerate(value):  # type: ignore[misc]
        _sort(plan, entry, f"input[{index}]")
    if plan.history:
        _reject_history()
    return plan


def _sort(plan: InputPlan, entry: Any, param: str) -> None:
    if not isinstance(entry, dict):
        raise invalid("each input item must be an object", param=param)
    kind = entry.get("type", "message" if "role" in entry else None)
    if kind == "message":
        _message(plan, entry, param)
    elif kind == "function_call_output":
        call_id = _string(entry, "call_id", param)
        if call_id in plan.outputs:
            raise invalid(f"two outputs for function call {call_id!r}", param=param)
        plan.outputs[call_id] = output_text(entry.get("output"), param)
    elif kind in ("mcp_approval_response", APPROVAL_RESPONSE):
        approve = entry.get("approve")
        if not isinstance(approve, bool):
            raise invalid("approve must be true or false", param=f"{param}.approve")
        reason = entry.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise invalid("reason must be a string", param=f"{param}.reason")
        plan.decisions.append(
            Decision(
                approval_request_id=_string(entry, "approval_request_id", param),
                approve=approve,
                reason=reason,
            )
        )
    elif kind == "function_call":
        plan.echoed_calls.append(_string(entry, "call_id", param))
    elif kind == "item_reference":
        plan.echoed_ids.append(_string(entry, "id", param))
    elif kind in (
        "reasoning",
        "mcp_call",
        "mcp_approval_request",
        "mcp_list_tools",
        TOOL_CALL,
        APPROVAL_REQUEST,
    ):
        # Items this server produced, sent back by a client that replays its output: the
        # thread holds them already (or, for reasoning, never shows them to the model).
        item_id = entry.get("id")
        if isinstance(item_id, str) and kind != "reasoning":
            plan.echoed_ids.append(item_id)
    elif kind == "compaction":
        plan.history.append(entry)  # a summary of earlier history, from /v1/responses/compact
    else:
        raise invalid(
            f"input items of type {str(kind)[:60]!r} are not supported by this server",
            param=f"{param}.type",
        )


def _message(plan: InputPlan, entry: dict[str, Any], param: str) -> None:
    role = entry.get("role")
    content = entry.get("content")
    if role == "user":
        plan.parts.extend(_user_parts(content, param))
    elif role in ("system", "developer"):
        # The agent's instructions are server configuration; a client cannot replace them.
        _user_parts(content, param)
    elif role == "assistant":
        item_id = entry.get("id")
        if isinstance(item_id, str) and item_id.startswith("item_"):
            plan.echoed_ids.append(item_id)
        else:
            plan.history.append(entry)
    else:
        raise invalid(
            "a message's role must be user, assistant, system or developer", param=f"{param}.role"
        )


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise invalid(
            "a message's content must be a string or a non-empty list of parts",
            param=f"{param}.content",
        )
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):  # type: ignore[misc]
        try:
            parsed = part_from_dict(part)
        except InvalidInputError as exc:
            raise invalid(exc.message, param=f"{param}.content[{index}]") from None
        parts.append(part_to_dict(parsed))
    return parts


def output_text(output: Any, param: str) -> str:
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
        param=f"{param}.output",
    )


def _string(entry: dict[str, Any], key: str, param: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise invalid(f"{key} must be a non-empty string", param=f"{param}.{key}")
    return value


def _reject_history() -> None:
    raise APIError(
        400,
        "this server keeps the conversation itself: send only the new input, "
        "with `conversation` or `previous_response_id` to continue; earlier "
        "assistant messages cannot be imported",
        param="input",
        code="unsupported_history",
    )
