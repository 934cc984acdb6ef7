"""Public test helpers: a deterministic `ScriptedModel` and its step builders."""

from ._scripted import ScriptedModel, ScriptedToolCall, Step, fail, text, tool_call, tool_calls

__all__ = ["ScriptedModel", "ScriptedToolCall", "Step", "fail", "text", "tool_call", "tool_calls"]
