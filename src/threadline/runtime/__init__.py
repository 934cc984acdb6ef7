"""The engine and the public API: `Threadline`, `Agent`, `Thread`, `ThreadManager`."""

from ._agent import Agent, Mode
from ._agent_result import AgentResult, AgentStatus, RunEnvelope
from ._app import Threadline
from ._attachments import copy_attachment
from ._bus import Subscription
from ._checkpoint import Checkpoint
from ._context_window import ContextWindow
from ._definitions import DefinitionBuilder, DefinitionError, ThreadDefinition, define
from ._engine_parts import StartOptions, StartOutcome
from ._faults import FAULT_POINTS, FaultHook, FaultPoint
from ._input import TurnInput
from ._loaders import Prompt
from ._manager import ThreadList, ThreadManager
from ._memory import Memory, ObservationalMemory
from ._recovery import RecoveryReport
from ._registry import get_definition, register
from ._result import TurnResult
from ._scheduling import ScheduledCall
from ._stateless import (
    PrefixMessage,
    run_agent,
    run_agent_resume,
    run_agent_resume_stream,
    run_agent_stream,
)
from ._stream import TurnStream
from ._subagent_limits import SubagentLimits
from ._subagents import ChildThread, subagent_requests
from ._sync import SyncThread, SyncThreadline, SyncThreadManager, public_operations
from ._thread import Thread, annotate_paused_turn, run_with_options
from ._thread_messages import ThreadIdentity
from ._turn_settings import TurnSettings, with_extra_instructions

__all__ = [
    "FAULT_POINTS",
    "Agent",
    "AgentResult",
    "AgentStatus",
    "Checkpoint",
    "ChildThread",
    "ContextWindow",
    "DefinitionBuilder",
    "DefinitionError",
    "FaultHook",
    "FaultPoint",
    "Memory",
    "Mode",
    "ObservationalMemory",
    "PrefixMessage",
    "Prompt",
    "RecoveryReport",
    "RunEnvelope",
    "ScheduledCall",
    "StartOptions",
    "StartOutcome",
    "SubagentLimits",
    "Subscription",
    "SyncThread",
    "SyncThreadManager",
    "SyncThreadline",
    "Thread",
    "ThreadDefinition",
    "ThreadIdentity",
    "ThreadList",
    "ThreadManager",
    "Threadline",
    "TurnInput",
    "TurnResult",
    "TurnSettings",
    "TurnStream",
    "annotate_paused_turn",
    "copy_attachment",
    "define",
    "get_definition",
    "public_operations",
    "register",
    "run_agent",
    "run_agent_resume",
    "run_agent_resume_stream",
    "run_agent_stream",
    "run_with_options",
    "subagent_requests",
    "with_extra_instructions",
]
