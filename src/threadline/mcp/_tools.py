"""An MCP server's tools as threadline `Tool`s: the server's JSON Schema shown to the model and
checked before a call is sent, its result turned into the text the model reads, and the
server's annotations taken as what a repeat means unless the app says otherwise."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import jsonschema
import jsonschema.validators
import orjson

from threadline.tools import ApprovalPolicy, ThreadState, Tool, ToolOutput, tool_name
from threadline.types import MCPServerUnavailableError, ToolError

if TYPE_CHECKING:
    from mcp.types import CallToolResult
    from mcp.types import Tool as ToolSpec

    from ._server import MCPServer

logger = logging.getLogger("threadline.mcp")

IDEMPOTENCY_KEY_META = "threadline/idempotency-key"
"""The `_meta` entry of each call that carries its stable idempotency key: a server may use it
to recognise a call it has already seen."""

_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


class MCPTool(Tool):
    """A tool of an MCP server (see `MCPServer`). `remote_name` is its name on the server;
    `name` is what the model sees (made valid, and prefixed with the server's name when the
    agent has another tool of that name)."""

    def __init__(
        self,
        server: MCPServer,
        spec: ToolSpec,
        *,
        idempotent: bool,
        needs_approval: bool | ApprovalPolicy,
    ) -> None:
        # No Python function to read hints from: what `Tool.__init__` derives, the server gives.
        self._declare(
            tool_name(spec.name),
            (spec.description or spec.title or "").strip(),
            idempotent=idempotent,
            needs_approval=needs_approval,
        )
        self.server = server
        self.remote_name = spec.name
        self.is_async = True
        self.fn = self._call
        # The runtime hands such a tool its call's `ThreadState`: its idempotency key is sent.
        self.context_parameter = "thread"
        self.parameters, self._validator = _schema(spec.input_schema, spec.name)

    async def _call(self, **arguments: Any) -> str:
        output = await self.invoke(json.dumps(arguments), None)
        if output.outcome != "success":
            raise ToolError(output.output.removeprefix("Error: "), tool=self.name)
        return output.output

    def check_arguments(self, arguments: str) -> str | None:
        problem, _ = self._parse(arguments)
        return problem

    def _parse(self, arguments: str) -> tuple[str | None, dict[str, Any]]:
        try:
            parsed = orjson.loads(arguments or "{}")
        except orjson.JSONDecodeError:
            return f"Invalid arguments for tool {self.name}: not valid JSON", {}
        if not isinstance(parsed, dict):
            return f"Invalid arguments for tool {self.name}: arguments must be an object", {}
        values: dict[str, Any] = parsed
        problems = [
            f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message}"
            for error in sorted(self._validator.iter_errors(values), key=str)[:10]
        ]
        if problems:
            return f"Invalid arguments for tool {self.name}: {'; '.join(problems)}", {}
        return None, values

    async def invoke(self, arguments: str, context: ThreadState[Any] | None) -> ToolOutput:
        problem, values = self._parse(arguments)
        if problem is not None:
            return ToolOutput(output=problem, outcome="error")
        meta = None if context is None else {IDEMPOTENCY_KEY_META: context.idempotency_key}
        try:
            result = await self.server.call_tool(self.remote_name, values, meta=meta)
        except MCPServerUnavailableError as exc:
            if exc.context.get("sent"):
                return ToolOutput(
                    output=f"Error: {exc.message}; the call may or may not have taken effect.",
                    outcome="unknown",
                )
            return ToolOutput(
                output=f"Error: {exc.message}; the call was not made. Try again later.",
                outcome="error",
            )
        except ToolError as exc:
            return ToolOutput(output=f"Error: {exc.message}", outcome="error")
        return tool_output(result)


def tool_output(result: CallToolResult) -> ToolOutput:
    """What the model reads of a call's result: its text, a line naming each image, sound
    or resource it holds, or its structured content when it has no text."""
    from mcp.types import (
        AudioContent,
        BlobResourceContents,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
    )

    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, ImageContent | AudioContent):
            kind = "image" if isinstance(block, ImageContent) else "audio"
            parts.append(f"[{kind}: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource {block.uri}" + (f": {block.name}]" if block.name else "]"))
        elif isinstance(block, EmbeddedResource):
            resource = block.resource
            if isinstance(resource, BlobResourceContents):
                size = len(resource.blob) * 3 // 4
                parts.append(f"[resource {resource.uri}: {resource.mime_type}, {size} bytes]")
            else:
                parts.append(resource.text)
    if not parts and result.structured_content is not None:
        parts.append(orjson.dumps(result.structured_content).decode())
    text = "\n".join(parts)
    if result.is_error:
        return ToolOutput(output=f"Error: {text or 'the tool failed'}", outcome="error")
    return ToolOutput(output=text, outcome="success")


def _schema(schema: Mapping[str, Any] | None, name: str) -> tuple[dict[str, Any], Any]:
    """The arguments' schema as the model sees it, and a validator for it. A schema that is
    not valid JSON Schema is shown as an object of any properties and checks nothing beyond
    that (the server checks what it gets)."""
    shown = dict(schema or _EMPTY_SCHEMA)
    shown.setdefault("type", "object")
    if shown.get("type") == "object":
        shown.setdefault("properties", {})
    try:
        validator_class = jsonschema.validators.validator_for(shown)
        validator_class.check_schema(shown)
    except jsonschema.SchemaError:
        logger.warning("MCP tool %s has an invalid input schema; it is not checked", name)
        shown = dict(_EMPTY_SCHEMA)
        validator_class = jsonschema.validators.validator_for(shown)
    return shown, validator_class(shown)
