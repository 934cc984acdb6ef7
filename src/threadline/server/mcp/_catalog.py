"""The tools the MCP server lists: one per agent, and the tools that read threads and
answer approvals, with their input schemas and what their arguments must be."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import mcp_types as types

from threadline import Agent
from threadline.types import ConfigurationError, InvalidInputError

from ._results import ANSWER_APPROVAL, ANSWER_INPUT, TURN_SCHEMA
from ._threads import MAX_PAGE

LIST_THREADS = "list_threads"
READ_THREAD = "read_thread"
BUILT_IN = frozenset({LIST_THREADS, READ_THREAD, ANSWER_APPROVAL, ANSWER_INPUT})

_THREAD_ID = {"type": "string", "description": "A thread id (thr_...), from an earlier result."}


def catalog(agents: Iterable[Agent]) -> list[types.Tool]:
    """The tools of an app with these agents. Raises `ConfigurationError` for an agent named
    like one of the built-in tools."""
    tools = [_agent_tool(agent) for agent in agents]
    clashes = sorted({tool.name for tool in tools} & BUILT_IN)
    if clashes:
        raise ConfigurationError(
            f"an agent named {clashes[0]!r} cannot be served over MCP: the server's own tool "
            "has that name; rename the agent"
        )
    return [*tools, *_built_in()]


def _agent_tool(agent: Agent) -> types.Tool:
    about = agent.description or f"Talk to the {agent.name} agent."
    return types.Tool(
        name=agent.name,
        description=(
            f"{about} Runs one turn of the agent on a durable thread and returns its answer. "
            "Without thread_id a new thread is started; the result's thread_id continues it. "
            f"A turn that waits for a person's approval or answer says so; give it with "
            f"{ANSWER_APPROVAL} or {ANSWER_INPUT}."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "input": {"type": "string", "description": "What to say to the agent."},
                "thread_id": {
                    **_THREAD_ID,
                    "description": "Continue this thread (from an earlier result); omit it to "
                    "start a new one.",
                },
            },
            "required": ["input"],
            "additionalProperties": False,
        },
        output_schema=TURN_SCHEMA,
        annotations=types.ToolAnnotations(read_only_hint=False, open_world_hint=True),
    )


def _built_in() -> list[types.Tool]:
    return [
        types.Tool(
            name=LIST_THREADS,
            description="The caller's threads, newest first, one page at a time.",
            input_schema={
                "type": "object",
                "properties": {
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 20},
                    "cursor": {
                        "type": "string",
                        "description": "next_cursor of the previous page.",
                    },
                    "status": {
                        "type": "string",
                        "enum": ["idle", "active", "awaiting_input", "archived"],
                        "description": "Only threads in this state (archived threads are "
                        "listed only when asked for).",
                    },
                },
                "additionalProperties": False,
            },
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
        types.Tool(
            name=READ_THREAD,
            description="A thread's transcript: messages, tool calls and their results, "
            "approvals asked and given, and what its paused turn waits for.",
            input_schema={
                "type": "object",
                "properties": {
                    "thread_id": _THREAD_ID,
                    "after_seq": {
                        "type": "integer",
                        "minimum": 0,
                        "default": 0,
                        "description": "Only the items after this position.",
                    },
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
                },
                "required": ["thread_id"],
                "additionalProperties": False,
            },
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
        types.Tool(
            name=ANSWER_APPROVAL,
            description="Approve or deny a tool call that a paused turn waits for, then let "
            "the turn go on and return its outcome. Each call is answered once.",
            input_schema={
                "type": "object",
                "properties": {
                    "thread_id": _THREAD_ID,
                    "tool_call_id": {
                        "type": "string",
                        "description": "The pending call's id, from pending_approvals.",
                    },
                    "decision": {"type": "string", "enum": ["approve", "deny"]},
                    "reason": {"type": "string", "description": "Why (optional)."},
                },
                "required": ["thread_id", "tool_call_id", "decision"],
                "additionalProperties": False,
            },
            output_schema=TURN_SCHEMA,
            annotations=types.ToolAnnotations(read_only_hint=False, open_world_hint=True),
        ),
        types.Tool(
            name=ANSWER_INPUT,
            description="Answer the question a paused turn's tool waits for (its "
            "pending_input), then let the turn go on and return its outcome. The answer must "
            "fit the question's schema; each question is answered once.",
            input_schema={
                "type": "object",
                "properties": {
                    "thread_id": _THREAD_ID,
                    "answer": {
                        "description": "The answer: a JSON value of the pending_input's schema."
                    },
                },
                "required": ["thread_id", "answer"],
                "additionalProperties": False,
            },
            output_schema=TURN_SCHEMA,
            annotations=types.ToolAnnotations(read_only_hint=False, open_world_hint=True),
        ),
    ]


class Arguments:
    """A tool call's arguments, each checked as it is read; `done()` refuses the rest."""

    def __init__(self, tool: str, arguments: Mapping[str, Any] | None) -> None:
        self._tool = tool
        self._given = dict(arguments or {})
        self._read: set[str] = set()

    def text(self, name: str) -> str:
        value = self.optional_text(name)
        if value is None:
            raise InvalidInputError(f"{self._tool}: the argument {name!r} is required")
        return value

    def optional_text(self, name: str) -> str | None:
        self._read.add(name)
        value = self._given.get(name)
        if value is None or isinstance(value, str):
            return value
        raise InvalidInputError(f"{self._tool}: {name!r} must be a string")

    def value(self, name: str) -> Any:
        """Any JSON value, required (null included)."""
        self._read.add(name)
        if name not in self._given:
            raise InvalidInputError(f"{self._tool}: the argument {name!r} is required")
        return self._given[name]

    def choice(self, name: str, options: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in options:
            raise InvalidInputError(
                f"{self._tool}: {name!r} must be one of {', '.join(options)}, not {value!r}"
            )
        return value

    def integer(self, name: str, *, default: int, low: int, high: int) -> int:
        self._read.add(name)
        value = self._given.get(name, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidInputError(
                f"{self._tool}: {name!r} must be a whole number from {low} to {high}"
            )
        return value

    def done(self) -> None:
        unknown = sorted(set(self._given) - self._read)
        if unknown:
            raise InvalidInputError(
                f"{self._tool}: unknown argument {unknown[0]!r}; it takes "
                f"{', '.join(sorted(self._read))}"
            )
