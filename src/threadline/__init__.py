"""threadline: durable threads for AI agents.

import threadline as tl

agent = tl.Agent(name="assistant", instructions="Be brief.", tools=[get_weather])
async with tl.Threadline(agents=[agent]) as app:
    thread = await app.threads.start(user_id="me")
    print((await thread.run("What's the weather in Paris?")).text)
"""

from typing import TYPE_CHECKING, Any

from threadline import bots
from threadline.bots import Bot
from threadline.mcp import MCPServer
from threadline.models import Model, ModelRequest, ToolSpec, resolve_model
from threadline.runtime import (
    Agent,
    AgentResult,
    Checkpoint,
    ChildThread,
    ContextWindow,
    DefinitionBuilder,
    DefinitionError,
    Memory,
    Mode,
    ObservationalMemory,
    Prompt,
    RecoveryReport,
    RunEnvelope,
    ScheduledCall,
    SubagentLimits,
    Subscription,
    SyncThreadline,
    Thread,
    ThreadDefinition,
    Threadline,
    ThreadList,
    ThreadManager,
    TurnResult,
    TurnStream,
    define,
    get_definition,
    register,
    run_agent,
    run_agent_resume,
    run_agent_resume_stream,
    run_agent_stream,
)
from threadline.sandbox import CodeLimits, CodeResult
from threadline.store import SQLiteStore, Store, open_store
from threadline.tools import ThreadState, ThreadView, Tool, code_tool, plan_tool, tool
from threadline.types import (
    ApprovalRequest,
    ApprovalResponse,
    AwaitingInput,
    Budget,
    BudgetExceededError,
    CheckpointError,
    ConfigurationError,
    CorruptDataError,
    EnvType,
    Event,
    FileInfo,
    FilePart,
    FileQuotaExceededError,
    ImagePart,
    InvalidInputError,
    Item,
    LeaseLost,
    MCPServerUnavailableError,
    ModelError,
    NotFoundError,
    Observation,
    Plan,
    PlanStep,
    SchemaVersionError,
    Secret,
    SecretKeyError,
    SpanEvent,
    SpanRecord,
    StepRecord,
    StoreError,
    Subagent,
    SubagentLimitError,
    TextPart,
    ThreadlineError,
    ThreadRecord,
    ThreadTerminatedError,
    ToolError,
    TurnCancelledError,
    TurnError,
    TurnFailedError,
    TurnInProgressError,
    TurnRecord,
    UnpricedModelWarning,
    Usage,
)

ExternalTool = ToolSpec
"""A tool the caller runs itself: `thread.run(..., external_tools=[tl.ExternalTool(...)])`."""

__version__ = "0.1.0"

if TYPE_CHECKING:
    from threadline.client import connect
    from threadline.store import PostgresStore


def __getattr__(name: str) -> Any:
    # psycopg, and the network client, are imported only by those who use them.
    if name == "PostgresStore":
        from threadline.store import PostgresStore

        return PostgresStore
    if name == "connect":
        from threadline.client import connect

        return connect
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Agent",
    "AgentResult",
    "ApprovalRequest",
    "ApprovalResponse",
    "AwaitingInput",
    "Bot",
    "Budget",
    "BudgetExceededError",
    "Checkpoint",
    "CheckpointError",
    "ChildThread",
    "CodeLimits",
    "CodeResult",
    "ConfigurationError",
    "ContextWindow",
    "CorruptDataError",
    "DefinitionBuilder",
    "DefinitionError",
    "EnvType",
    "Event",
    "ExternalTool",
    "FileInfo",
    "FilePart",
    "FileQuotaExceededError",
    "ImagePart",
    "InvalidInputError",
    "Item",
    "LeaseLost",
    "MCPServer",
    "MCPServerUnavailableError",
    "Memory",
    "Mode",
    "Model",
    "ModelError",
    "ModelRequest",
    "NotFoundError",
    "Observation",
    "ObservationalMemory",
    "Plan",
    "PlanStep",
    "PostgresStore",
    "Prompt",
    "RecoveryReport",
    "RunEnvelope",
    "SQLiteStore",
    "ScheduledCall",
    "SchemaVersionError",
    "Secret",
    "SecretKeyError",
    "SpanEvent",
    "SpanRecord",
    "StepRecord",
    "Store",
    "StoreError",
    "Subagent",
    "SubagentLimitError",
    "SubagentLimits",
    "Subscription",
    "SyncThreadline",
    "TextPart",
    "Thread",
    "ThreadDefinition",
    "ThreadList",
    "ThreadManager",
    "ThreadRecord",
    "ThreadState",
    "ThreadTerminatedError",
    "ThreadView",
    "Threadline",
    "ThreadlineError",
    "Tool",
    "ToolError",
    "TurnCancelledError",
    "TurnError",
    "TurnFailedError",
    "TurnInProgressError",
    "TurnRecord",
    "TurnResult",
    "TurnStream",
    "UnpricedModelWarning",
    "Usage",
    "__version__",
    "bots",
    "code_tool",
    "connect",
    "define",
    "get_definition",
    "open_store",
    "plan_tool",
    "register",
    "resolve_model",
    "run_agent",
    "run_agent_resume",
    "run_agent_resume_stream",
    "run_agent_stream",
    "tool",
]
