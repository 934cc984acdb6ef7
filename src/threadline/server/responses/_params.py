"""The parameters of `POST /v1/responses`, checked before anything is stored.

What the server does with each: `model` names one of the app's agents for a new
conversation (any other value means the default agent); `instructions` and system/developer
messages are ignored, because an agent's instructions are server configuration; function
`tools` become the client's tools for the turn, and an `mcp` tool of server label
`threadline` says which of the agent's tools the client approves (`_mcp_tool`); a `text.format` schema is checked (the
agent's own output type decides what the model is asked for); `metadata` is checked and
echoed nowhere; sampling parameters are accepted and left to the agent's model settings.
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
    for name in ("temperature", "top_p"):
        _optional(body, name, float)
    for name in ("max_output_tokens", "max_tool_calls", "top_logprobs"):
        _optional(body, name, int)
    _optional(body, "parallel_tool_calls", bool)
    _check_text_format(body.get("text"))
    parse_metadata(body.get("metadata"))
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


def _check_text_format(text: Any) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise invalid("text must be an object", param="text")
    fmt = text.get("format")  # type: ignore[union-attr]
    if fmt is None:
        return
    if not isinstance(fmt, dict) or fmt.get("type") not in (
        "text",
        "json_schema",  # type: ignore[union-attr]
        "json_object",
    ):
        raise invalid(
            "text.format.type must be text, json_schema or json_object", param="text.format"
        )
    if fmt["type"] == "json_schema":
        _schema(fmt.get("schema"), "text.format.schema")  # type: ignore[union-attr]


def _schema(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("a JSON Schema must be an object", param=param)
    try:
        validator = jsonschema.validators.validator_for(value)  # type: ignore[arg-type]
        validator.check_schema(value)  # type: ignore[arg-type]
    except jsonschema.exceptions.SchemaError as exc:
        raise invalid(f"invalid JSON Schema: {exc.message[:200]}", param=param) from None
    return value  # type: ignore[return-value]
