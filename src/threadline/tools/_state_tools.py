from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import orjson

from threadline.types import ConfigurationError, InvalidInputError, Plan, ToolCall


@runtime_checkable
class ToolCallServices(Protocol):
    """What the runtime lends a tool to call other tools. `caller` is the calling tool's
    `ThreadState`."""

    async def queue_tool(self, caller: Any, name: str, arguments: str) -> ToolCall: ...

    async def invoke_tool(self, caller: Any, number: int, name: str, arguments: str) -> str: ...


class ToolAccess:
    """Tools called from a tool, for a tool (see `ThreadState`)."""

    _services: Any
    _invoked = 0  # `invoke_tool` calls this tool has made: numbers the next one
    _queued: list[ToolCall] | None = None
    _plans: list[Plan] | None = None

    @property
    def queued_calls(self) -> list[ToolCall]:
        """The calls this tool queued (`queue_tool`), stored with its result."""
        if self._queued is None:
            self._queued = []
        return self._queued

    @property
    def plan_updates(self) -> list[Plan]:
        """The plans this tool recorded (`update_plan`), stored with its result."""
        if self._plans is None:
            self._plans = []
        return self._plans

    async def queue_tool(self, name: str, arguments: Mapping[str, Any] | str | None = None) -> str:
        """Queue a call of the agent's tool `name` to run after the current tool step, as a
        call of the turn: approval policy, validation and durability as for a call the model
        made, and the model reads its result. The call is stored with this tool's result (not
        at all if this tool is cut off before it returns). Returns the new `tool_call_id`.

            call_id = await thread.queue_tool("send_report", {"to": "ops"})

        `arguments` is a JSON object (a mapping, or its JSON text). Raises `ToolError` for a
        tool the agent does not have (naming the ones it has) or for invalid arguments.
        """
        call = await _services(self, "queue_tool").queue_tool(
            self, name, _arguments_text(arguments)
        )
        self.queued_calls.append(call)
        return call.tool_call_id

    async def invoke_tool(self, name: str, arguments: Mapping[str, Any] | str | None = None) -> str:
        """Run the agent's tool `name` now, inside this tool's call, and return its output
        (the text the model would read).

            rate = await thread.invoke_tool("exchange_rate", {"currency": "EUR"})

        The nested call is stored as a call of its own, with the idempotency key
        `<this call's idempotency_key>/<n>` (n counts this tool's `invoke_tool` calls): a
        non-idempotent tool's start is stored before it runs, and its result when it returns.
        When this tool runs again after a crash (idempotent tools do), the n-th call gets the
        stored result instead of running again; a non-idempotent call that started and has
        no result is not run again: `ToolError` says its outcome is unknown. Make the same
        calls in the same order when run again. The model never sees nested calls, only this
        tool's result; events and `thread.items()` show them (`parent_call_id` names this call).

        Raises `ToolError` (with the tool's error text) when the nested call fails, for an
        unknown tool (naming the agent's tools), for invalid arguments, and for a tool whose
        calls need a human's approval: such a call is refused, never run unapproved, unless the
        thread has a standing approval of that tool; `queue_tool` it instead.
        """
        self._invoked += 1
        return await _services(self, "invoke_tool").invoke_tool(
            self, self._invoked, name, _arguments_text(arguments)
        )


def _services(state: ToolAccess, operation: str) -> ToolCallServices:
    services = getattr(state, "_services", None)
    if not isinstance(services, ToolCallServices):
        raise ConfigurationError(f"{operation} needs a running turn")
    return services


def _arguments_text(arguments: Mapping[str, Any] | str | None) -> str:
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments
    try:
        return orjson.dumps(dict(arguments)).decode()
    except TypeError as exc:
        raise InvalidInputError(f"tool arguments must be JSON: {exc}") from None
