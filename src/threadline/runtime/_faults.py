from __future__ import annotations

from typing import Literal, Protocol

FaultPoint = Literal[
    "after_user_item_commit",  # the turn and its input are stored
    "before_model_call",
    "mid_stream",  # the model has streamed its first delta
    "after_model_response",  # the model finished; nothing of the step is stored yet
    "after_step_commit",  # the model step's items are stored
    "after_tool_started",  # non-idempotent calls are marked started
    "inside_tool",  # a tool is about to run
    "before_tool_commit",  # the step's tools have finished; nothing of theirs is stored yet
    "after_tool_result",  # the tool results are stored
    "after_nested_tool_started",  # a call made by a tool (`invoke_tool`) is stored
    "after_nested_tool_result",  # that call's result is stored; its caller still runs
    "after_approval_request",  # the turn is paused for a human
    "after_approval_decision",  # a human's decision is stored
    "before_turn_complete",  # the final answer is about to be stored
]
FAULT_POINTS: tuple[FaultPoint, ...] = (
    "after_user_item_commit",
    "before_model_call",
    "mid_stream",
    "after_model_response",
    "after_step_commit",
    "after_tool_started",
    "inside_tool",
    "before_tool_commit",
    "after_tool_result",
    "after_nested_tool_started",
    "after_nested_tool_result",
    "after_approval_request",
    "after_approval_decision",
    "before_turn_complete",
)


class FaultHook(Protocol):
    """Called at each named point of a turn; `threadline.testing.FaultPoints` arms them."""

    async def hit(self, point: FaultPoint) -> None: ...
