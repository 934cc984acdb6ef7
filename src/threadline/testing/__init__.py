"""Public test helpers: a deterministic `ScriptedModel`, named fault points, and a checker of
the store's invariants."""

from ._faults import FaultAction, FaultPoints, InjectedFault
from ._invariants import check_invariants
from ._scripted import ScriptedModel, ScriptedToolCall, Step, fail, text, tool_call, tool_calls
from ._waiting import eventually

__all__ = [
    "FaultAction",
    "FaultPoints",
    "InjectedFault",
    "ScriptedModel",
    "ScriptedToolCall",
    "Step",
    "check_invariants",
    "eventually",
    "fail",
    "text",
    "tool_call",
    "tool_calls",
]
