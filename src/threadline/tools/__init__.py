"""Tools from typed Python callables: JSON Schema, validation, and the `ThreadState` context."""

from ._state import ThreadState
from ._tool import Tool, ToolOutput, as_tool, tool

__all__ = ["ThreadState", "Tool", "ToolOutput", "as_tool", "tool"]
