"""Public test helpers: a deterministic `ScriptedModel`, named fault points, a checker of
the store's invariants, and `MemoryChat`, a chat platform in memory for testing bots."""

from ._faults import FaultAction, FaultPoints, InjectedFault
from ._invariants import check_invariants
from ._memory_chat import ChatMessage, MemoryChat, UploadedFile
from ._scripted import ScriptedModel, ScriptedToolCall, Step, fail, text, tool_call, tool_calls
from ._waiting import eventually

__all__ = [
    "ChatMessage",
    "FaultAction",
    "FaultPoints",
    "InjectedFault",
    "MemoryChat",
    "ScriptedModel",
    "ScriptedToolCall",
    "Step",
    "UploadedFile",
    "check_invariants",
    "eventually",
    "fail",
    "text",
    "tool_call",
    "tool_calls",
]
