"""Tools from typed Python callables: JSON Schema, validation, and the `ThreadState` context."""

from ._code_tool import code_tool
from ._files import DEFAULT_FILE_QUOTA_BYTES, FileChanges, FileData, StoredFiles
from ._plan import PLAN_TOOL_NAME, plan_tool
from ._source import ToolSource, source_tools, tool_name
from ._state import ThreadState, ThreadView, ToolServices, choice_schema
from ._state_messages import (
    AgentDefinition,
    InjectPosition,
    MessageContent,
    MessageRole,
    MessageServices,
)
from ._state_tools import ToolCallServices
from ._tool import ApprovalPolicy, Tool, ToolOutput, as_tool, tool

__all__ = [
    "DEFAULT_FILE_QUOTA_BYTES",
    "PLAN_TOOL_NAME",
    "AgentDefinition",
    "ApprovalPolicy",
    "FileChanges",
    "FileData",
    "InjectPosition",
    "MessageContent",
    "MessageRole",
    "MessageServices",
    "StoredFiles",
    "ThreadState",
    "ThreadView",
    "Tool",
    "ToolCallServices",
    "ToolOutput",
    "ToolServices",
    "ToolSource",
    "as_tool",
    "choice_schema",
    "code_tool",
    "plan_tool",
    "source_tools",
    "tool",
    "tool_name",
]
