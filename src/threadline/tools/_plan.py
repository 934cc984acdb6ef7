"""The built-in `update_plan` tool: the agent keeps a list of steps with their status."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from threadline.types import Plan, PlanStep, ToolError

from ._state import ThreadState
from ._tool import Tool

PLAN_TOOL_NAME = "update_plan"

_DESCRIPTION = (
    "Keep a short plan of the task up to date: give every step with its status, in order, "
    "each time something changes. At most one step is in_progress at a time; mark a step "
    "completed when it is done, then the next in_progress."
)


class PlanStepArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str
    status: Literal["pending", "in_progress", "completed"]


async def update_plan(
    steps: list[PlanStepArguments],
    thread: ThreadState[Any],
    explanation: str | None = None,
) -> str:
    """Record the plan.

    Args:
        steps: every step of the plan, in order, with its status
        explanation: why the plan is what it is, or what changed
    """
    if sum(1 for s in steps if s.status == "in_progress") > 1:
        raise ToolError("at most one step can be in_progress at a time")
    plan = Plan(
        steps=tuple(PlanStep(step=s.step, status=s.status) for s in steps),
        explanation=explanation,
    )
    thread.plan_updates.append(plan)
    return "Plan updated"


def plan_tool() -> Tool:
    """The built-in `update_plan` tool: give it to an agent and the model keeps a plan, a list
    of steps each `pending`, `in_progress` or `completed`, with an optional explanation.

        agent = tl.Agent(name="worker", tools=[tl.plan_tool(), search])

    Each call stores a `plan` item (a `tl.Plan`) with the tool's result and emits a
    `plan_updated` event; the Codex app-server sends it as `turn/plan/updated`, the Responses
    API as a `threadline:plan_updated` event. The latest `plan` item is the current plan.
    """
    return Tool(update_plan, name=PLAN_TOOL_NAME, description=_DESCRIPTION, idempotent=True)
