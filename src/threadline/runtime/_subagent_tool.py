"""An agent as another agent's tool: each call runs in a child thread (`Agent(subagents=)`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadline.tools import ThreadState, Tool
from threadline.types import ToolError

if TYPE_CHECKING:
    from ._agent import Agent
    from ._result import TurnResult


def subagent_tool(agent: Agent) -> Tool:
    """A tool named after `agent` whose calls each start a child thread running it on the
    call's `input` and return its answer. It is idempotent: a call run again after a crash
    finds its child (the call's id is the child's reference id) instead of starting another."""

    async def delegate(input: str, thread: ThreadState[Any]) -> Any:
        """Args:
        input: the task, with everything the agent needs to know to do it.
        """
        result = await thread.spawn(agent.name, input, reference_id=thread.tool_call_id, wait=True)
        if result.status != "completed":
            raise ToolError(failure_text(agent.name, result))
        return result.output if result.output is not None else result.text

    description = agent.description or f"Delegate a task to the {agent.name} agent."
    return Tool(delegate, name=agent.name, description=description, idempotent=True)


def failure_text(name: str, result: TurnResult) -> str:
    """What a model reads of a child's turn that did not complete."""
    error = result.turn.error or {}
    if result.status == "failed":
        return f"the {name} agent failed ({error.get('code', 'error')}): {error.get('message', '')}"
    if error.get("code") == "thread_terminated":
        return f"the {name} agent's thread was terminated: {error.get('message', '')}"
    return f"the {name} agent was interrupted before it answered"
