"""The parameters of `POST /v1/responses`, checked before anything is stored.

What the server does with each: `model` names one of the app's agents for a new
conversation (any other value means the default agent); `instructions` are added to the
agent's for the turn (system/developer messages in `input` are ignored); function `tools`
become the client's tools for the turn, and an `mcp` tool of server label `threadline` says
which of the agent's tools the client wants to approve (`_mcp_tool`); a `text.format` schema
becomes the turn's output schema; `temperature`, `top_p` and `max_output_tokens` go to the
model (see `_turn_fields`); `metadata` is stored with the response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema
import jsonschema.exceptions

from threadline import ExternalTool

from .._errors import invalid
from ._mcp_tool import ClientApprovals, client_approvals

_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAX_METADATA_KEYS = 16
_MIN_OUTPUT_TOKENS = 16  # OpenAI's lower bound


@dataclass(frozen=True, kw_only=True)
class CreateParams:
    input: Any
    model: str | None = None
    conversation: str | None = None
    previous_response_id: str | None = None
    stream: bool = False
    background: bool = False
    store: bool = True
    tools: list[ExternalTool] = field(default_factory=list[ExternalTool])
    approvals: ClientApprovals | None = None
    metadata: dict[str, str] = field(default_factory=dict[str, str])
    instructions: str | None = None
    text_format: dict[str, Any] | None = None  # json_schema or json_object; None: text
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None


def parse_create(body: dict[str, Any]) -> CreateParams:
    """Raises `APIError` (400) naming the first parameter that is wrong."""
    if "input" not in body or body["input"] is None:
        raise invalid(
            "Missing required parameter: 'input'.", param="input", code="missing_required_parameter"
        )
    conversation = body.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")  # type: ignore[union-attr]
        if not isinstance(conversation, str):
            raise invalid("conversation.id must be a string", param="conversation")
    previous = _optional(body, "previous_response_id", str)
    if conversation is not None and not isinstance(conversation, str):
        raise invalid('conversation must be an id or {"id": ...}', param="conversation")
    if conversation is not None and previous is not None:
        raise invalid(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="previous_response_id",
            code="mutually_exclusive_parameters",
        )
    stream = bool(_optional(body, "stream", bool))
    background = bool(_optional(body, "background", bool))
    store = _optional(body, "store", bool)
    if background and store is False:
        raise invalid("background mode requires store=true", param="background")
    for name in ("instructions", "model", "user", "prompt_cache_key", "safety_identifier"):
        _optional(body, name, str)
    temperature = _in_range(body, "temperature", 0.0, 2.0)
    top_p = _in_range(body, "top_p", 0.0, 1.0)
    for name in ("max_output_tokens", "max_tool_calls", "top_logprobs"):
        _optional(body, name, int)
    max_output_tokens = body.get("max_output_tokens")
    if max_output_tokens is not None and max_output_tokens < _MIN_OUTPUT_TOKENS:
        raise invalid(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{_MIN_OUTPUT_TOKENS}.",
            param="max_output_tokens",
            code="integer_below_min_value",
        )
    _optional(body, "parallel_tool_calls", bool)
    return CreateParams(
        input=body["input"],
        model=body.get("model"),
        conversation=conversation,
        previous_response_id=previous,
        stream=stream,
        background=background,
        store=store is not False,
        tools=_tools(body.get("tools")),
        approvals=client_approvals(body.get("tools")),
        metadata=parse_metadata(body.get("metadata")),
        instructions=body.get("instructions") or None,
        text_format=_text_format(body.get("text")),
        temperature=temperature,
        top_p=top_p,
        max_output_tokens=max_output_tokens,
    )


def parse_metadata(value: Any) -> dict[str, str]:
    """OpenAI's metadata: at most 16 string keys (<= 64 chars) with string values (<= 512)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid("metadata must be an object of strings", param="metadata")
    if len(value) > _MAX_METADATA_KEYS:  # type: ignore[arg-type]
        raise invalid(f"metadata has more than {_MAX_METADATA_KEYS} keys", param="metadata")
    found: dict[str, str] = {}
    for key, entry in value.items():  # type: ignore[union-attr]
        if not isinstance(key, str) or not key or len(key) > 64:
            raise invalid("metadata keys must be strings of 1 to 64 characters", param="metadata")
        if not isinstance(entry, str) or len(entry) > 512:
            raise invalid(
                "metadata values must be strings of at most 512 characters", param=f"metadata.{key}"
            )
        if key.startswith("threadline."):
            raise invalid(
                "metadata keys starting with 'threadline.' are reserved", param=f"metadata.{key}"
            )
        found[key] = entry
    return found


def _in_range(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = _optional(body, name, float)
    if value is not None and not low <= value <= high:
        raise invalid(f"Invalid '{name}': expected a number from {low:g} to {high:g}.", param=name)
    return None if value is None else float(value)


def _optional(body: dict[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    ok = (
        isinstance(value, int | float) and not isinstance(value, bool)
        if kind is float
        else (isinstance(value, kind) and (kind is bool or not isinstance(value, bool)))
    )
    if not ok:
        raise invalid(f"{name} must be a {kind.__name__}", param=name)
    return value


def _tools(value: Any) -> list[ExternalTool]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid("tools must be a list", param="tools")
    tools: list[ExternalTool] = []
    for index, tool in enumerate(value):  # type: ignore[misc]
        param = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise invalid("each tool must be an object", param=param)
        if tool.get("type") == "mcp":
            continue  # the agent's own tools: `client_approvals`
        if tool.get("type") != "function":
            raise invalid(
                f"tools of type {str(tool.get('type'))[:40]!r} are not supported by "
                "this server; only function tools (run by the client) and an mcp tool "
                "naming server_label 'threadline' (the agent's own tools)",
                param=f"{param}.type",
            )
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise invalid(
                "a function tool's name must be 1-64 letters, digits, _ or -", param=f"{param}.name"
            )
        if any(t.name == name for t in tools):
            raise invalid(f"two tools are named {name!r}", param=f"{param}.name")
        description = tool.get("description") or ""
        if not isinstance(description, str):
            raise invalid("description must be a string", param=f"{param}.description")
        parameters = tool.get("parameters")
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        tools.append(
            ExternalTool(
                name=name,
                description=description,
                parameters=_schema(parameters, f"{param}.parameters"),
            )
        )
    return tools


def _text_format(text: Any) -> dict[str, Any] | None:
    """The `text.format` of a structured answer as the request gives it, or None for text."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise invalid("text must be an object", param="text")
    fmt = text.get("format")  # type: ignore[union-attr]
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") not in (  # type: ignore[union-attr]
        "text",
        "json_schema",
        "json_object",
    ):
        raise invalid(
            "text.format.type must be text, json_schema or json_object", param="text.format"
        )
    kind: str = fmt["type"]  # type: ignore[index]
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    name = fmt.get("name")  # type: ignore[union-attr]
    if not isinstance(name, str) or not _TOOL_NAME.match(name):
        raise invalid(
            "text.format.name must be 1-64 letters, digits, _ or -", param="text.format.name"
        )
    description = fmt.get("description")  # type: ignore[union-attr]
    if description is not None and not isinstance(description, str):
        raise invalid("text.format.description must be a string", param="text.format.description")
    strict = fmt.get("strict")  # type: ignore[union-attr]
    if strict is not None and not isinstance(strict, bool):
        raise invalid("text.format.strict must be a boolean", param="text.format.strict")
    found: dict[str, Any] = {
        "type": "json_schema",
        "name": name,
        "schema": _schema(fmt.get("schema"), "text.format.schema"),  # type: ignore[union-attr]
        "strict": bool(strict),
    }
    if description is not None:
        found["description"] = description
    return found


def _schema(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("a JSON Schema must be an object", param=param)
    try:
        validator = jsonschema.validators.validator_for(value)  # type: ignore[arg-type]
        validator.check_schema(value)  # type: ignore[arg-type]
    except jsonschema.exceptions.SchemaError as exc:
        raise invalid(f"invalid JSON Schema: {exc.message[:200]}", param=param) from None
    return value  # type: ignore[return-value]
