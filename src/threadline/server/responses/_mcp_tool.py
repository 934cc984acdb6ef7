"""An `mcp` entry in a request's `tools`. Its server label `threadline` names the agent's own
tools (the server runs them and shows them as `mcp_call` items of that label), and its
`require_approval` names the ones the client wants to approve itself: the turn then pauses
with an `mcp_approval_request` before each such call, and an `mcp_approval_response` decides
it, as with OpenAI's hosted MCP tool (the OpenAI Agents SDK's `HostedMCPTool`).

`require_approval` keeps OpenAI's meaning: "always" when absent; "never"; or a filter
`{"always": {"tool_names": [...]}, "never": {"tool_names": [...]}}` under which the tools
listed in `never` run without the client's approval and every other tool waits for it.
It adds approvals and never removes one: a tool whose policy on the server requires approval
waits for it whatever the client says.

Refused, each with a 400 that names it: other server labels (this server connects to no
other MCP server), `server_url`, `connector_id`, `headers` and `authorization` (there is
nothing to connect to), `allowed_tools` (a request does not narrow the agent's tools) and
`read_only` filters (threadline's tools carry no read-only hint).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from .._errors import invalid
from ._wire_items import SERVER_LABEL

_REFUSED_FIELDS = ("server_url", "connector_id", "headers", "authorization", "allowed_tools")


@dataclass(frozen=True, kw_only=True)
class ClientApprovals:
    """Which of the agent's tools the client of a request wants to approve."""

    param: str  # where the entry was in the request, for errors
    unnamed: bool  # whether the tools the filter does not name need the client's approval
    always: frozenset[str] = frozenset()
    never: frozenset[str] = frozenset()

    def tool_names(self, agent_tools: Collection[str]) -> frozenset[str]:
        """The agent's tools the client approves. Raises `APIError` (400) for a named tool
        the agent does not have."""
        unknown = sorted((self.always | self.never) - set(agent_tools))
        if unknown:
            raise invalid(
                f"the agent has no tool named {unknown[0][:64]!r}; its tools are: "
                f"{', '.join(sorted(agent_tools)) or 'none'}",
                param=f"{self.param}.require_approval",
            )
        return frozenset(
            name
            for name in agent_tools
            if name in self.always or (self.unnamed and name not in self.never)
        )


def client_approvals(tools: Any) -> ClientApprovals | None:
    """The `mcp` entry of a request's `tools`, or None when it has none. Raises `APIError`
    (400) naming what is wrong."""
    found: ClientApprovals | None = None
    for index, tool in enumerate(tools if isinstance(tools, list) else []):  # type: ignore[misc]
        if not isinstance(tool, dict) or tool.get("type") != "mcp":  # type: ignore[union-attr]
            continue
        param = f"tools[{index}]"
        entry: dict[str, Any] = tool  # type: ignore[assignment]
        label = entry.get("server_label")
        if label != SERVER_LABEL:
            raise invalid(
                f"this server runs only its own tools, as MCP server {SERVER_LABEL!r}: an mcp "
                f"tool must name server_label {SERVER_LABEL!r}, not {str(label)[:64]!r}",
                param=f"{param}.server_label",
            )
        if found is not None:
            raise invalid(
                f"two mcp tools name server_label {SERVER_LABEL!r}", param=f"{param}.server_label"
            )
        for name in _REFUSED_FIELDS:
            if entry.get(name) is not None:
                raise invalid(
                    f"{name} is not supported: the {SERVER_LABEL!r} tools are the agent's "
                    "own, run by this server as configured",
                    param=f"{param}.{name}",
                )
        found = _require_approval(entry.get("require_approval"), param)
    return found


def _require_approval(value: Any, param: str) -> ClientApprovals:
    if value is None or value == "always":
        return ClientApprovals(param=param, unnamed=True)
    if value == "never":
        return ClientApprovals(param=param, unnamed=False)
    where = f"{param}.require_approval"
    if not isinstance(value, dict) or not value or set(value) - {"always", "never"}:  # type: ignore[arg-type]
        raise invalid(
            'require_approval must be "always", "never" or {"always": {"tool_names": [...]}, '
            '"never": {"tool_names": [...]}}',
            param=where,
        )
    always = _tool_names(value.get("always"), f"{where}.always")  # type: ignore[union-attr]
    never = _tool_names(value.get("never"), f"{where}.never")  # type: ignore[union-attr]
    both = sorted(always & never)
    if both:
        raise invalid(f"{both[0][:64]!r} is listed under both always and never", param=where)
    return ClientApprovals(param=param, unnamed=True, always=always, never=never)


def _tool_names(value: Any, param: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, dict):
        raise invalid('a filter must be an object: {"tool_names": [...]}', param=param)
    if value.get("read_only") is not None:  # type: ignore[union-attr]
        raise invalid(
            "read_only filters are not supported: threadline's tools carry no read-only "
            "hint; name the tools in tool_names",
            param=f"{param}.read_only",
        )
    if set(value) - {"tool_names", "read_only"}:  # type: ignore[arg-type]
        raise invalid('a filter has only "tool_names"', param=param)
    names = value.get("tool_names", [])  # type: ignore[union-attr]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):  # type: ignore[misc]
        raise invalid("tool_names must be a list of strings", param=f"{param}.tool_names")
    return frozenset(names)  # type: ignore[arg-type]
