from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel

from threadline.models import Model
from threadline.tools import ThreadView, Tool, ToolSource, as_tool
from threadline.types import (
    Budget,
    ConfigurationError,
    EnvValue,
    InvalidInputError,
    StepRecord,
    ThreadlineError,
)

from ._context_window import ContextWindow
from ._env import static_layer
from ._loaders import Prompt
from ._memory import ObservationalMemory
from ._output import OutputSpec
from ._subagent_tool import subagent_tool

if TYPE_CHECKING:
    from ._context import TurnContext

InstructionsBuilder = Callable[[ThreadView[Any]], str | Awaitable[str | None] | None]
"""Builds the instructions of one model request from the thread; sync or async."""
Instructions = str | InstructionsBuilder


@dataclass(frozen=True, kw_only=True)
class Mode:
    """A named variant of an agent: its own instructions (text, or a function of the thread,
    as for `Agent`) and, optionally, its own tools.

    Raises `ConfigurationError` if `instructions` is neither text nor a callable.
    """

    instructions: Instructions | None = None
    tools: Sequence[Tool | ToolSource | Callable[..., Any]] | None = None  # None: the agent's

    def __post_init__(self) -> None:
        _check_instructions(self.instructions, "a mode")


class StepPlan(Protocol):
    """Chooses an agent's instructions and tools at each step of a turn from the thread as
    it is then, and whether the turn goes on after a step (a thread definition's)."""

    async def instructions(self, ctx: TurnContext) -> str | None: ...

    def tools(self, ctx: TurnContext) -> dict[str, Tool]: ...

    def sources(self, ctx: TurnContext) -> tuple[ToolSource, ...]: ...

    async def continues_after(self, step: StepRecord, ctx: TurnContext) -> bool: ...


class Agent:
    """What runs on a thread: a model, instructions, tools, and the rules of a turn.

        agent = tl.Agent(name="assistant", instructions="Be brief.", tools=[get_weather])

    Args:
        name: unique within an app; stored on each thread.
        instructions: the system prompt: text, or a callable (sync or async) that builds it
            from a read-only `tl.ThreadView` (ids, `user_id`, `metadata`, typed `state`,
            `mode`, `get_messages()`) before each model request. If it raises, or returns
            something other than text or None, the turn fails with `instructions_error`.
            Or a `tl.Prompt`, rendered once (each of its variables needs a default); its
            `env` is then the last place `thread.env(name)` looks.
        tools: `@tl.tool` functions, plain callables, or sources of tools listed before
            each step (a `tl.MCPServer`).
        model: a spec (`"local"`, `"openai:gpt-4.1-mini"`) or a `Model`; default: the app's.
        output_type: a pydantic model or a JSON Schema the final answer must match.
        output_repair_attempts: how often the model may fix an invalid answer.
        state_type: a pydantic model validating the thread's `state`.
        modes: named variants selectable with `thread.set_mode(name)`.
        budget: limits for each turn (steps, tokens, cost, wall time).
        persist_partial_on_error: False hides what a failed or interrupted turn produced
            from later model requests (the log still ends every item it announced).
        on_unknown: after a crash, a started non-idempotent call with no result is reported
            to the model as unknown ("report") or waits for a human to decide ("pause").
        approval_expires_after: seconds after which a pending approval is denied.
        context_window: keep requests inside the model's window (a `ContextWindow`, or its
            size in tokens); default: the window the model declares, if any.
        observational_memory: condense older history into dated observations that requests
            carry instead (`tl.ObservationalMemory`), per resource or per thread.
        env: configuration and secrets for its threads, under the thread's, the account's
            and the app's (`thread.env(name)`): a `str` is text, a `tl.Secret` a secret.
        description: what the agent does, for a model that may delegate to it.
        subagents: agents this one delegates to: each is a tool named after it (taking
            `input`, the task) whose every call runs in a child thread and returns the
            child's answer. They join the app with this agent.

    Raises `ConfigurationError` for duplicate tool names, an invalid output schema, or
    instructions that are neither text nor a callable.
    """

    def __init__(
        self,
        *,
        name: str,
        instructions: Instructions | Prompt | None = None,
        tools: Sequence[Tool | ToolSource | Callable[..., Any]] = (),
        model: str | Model | None = None,
        output_type: type[BaseModel] | Mapping[str, Any] | None = None,
        output_repair_attempts: int = 2,
        state_type: type[BaseModel] | None = None,
        modes: Mapping[str, Mode] | None = None,
        budget: Budget | None = None,
        max_iterations: int | None = None,
        max_tokens: int | None = None,
        max_cost_usd: float | None = None,
        max_wall_seconds: float | None = None,
        persist_partial_on_error: bool = True,
        temperature: float | None = None,
        on_unknown: Literal["report", "pause"] = "report",
        approval_expires_after: float | None = None,
        context_window: ContextWindow | int | None = None,
        observational_memory: ObservationalMemory | None = None,
        env: Mapping[str, EnvValue] | None = None,
        description: str | None = None,
        subagents: Sequence[Agent] = (),
    ) -> None:
        if not name or not isinstance(name, str):
            raise ConfigurationError("an agent needs a non-empty name")
        if on_unknown not in ("report", "pause"):
            raise ConfigurationError("on_unknown must be 'report' or 'pause'")
        if approval_expires_after is not None and approval_expires_after <= 0:
            raise ConfigurationError("approval_expires_after must be positive")
        if output_repair_attempts < 0:
            raise ConfigurationError("output_repair_attempts must be >= 0")
        if observational_memory is not None and not isinstance(
            observational_memory, ObservationalMemory
        ):
            raise ConfigurationError("observational_memory must be a tl.ObservationalMemory")
        self.prompt = instructions if isinstance(instructions, Prompt) else None
        own = _prompt_text(instructions, name) if isinstance(instructions, Prompt) else instructions
        _check_instructions(own, f"agent {name!r}")
        self.name = name
        self.description = description
        self.instructions = own
        self.subagents = tuple(subagents)
        self.tools, self.tool_sources = _tool_table(
            [*tools, *(subagent_tool(s) for s in self.subagents)], f"agent {name!r}"
        )
        self.model = model
        self.output = OutputSpec.build(output_type) if output_type is not None else None
        self.output_repair_attempts = output_repair_attempts
        self.state_type = state_type
        self.modes: dict[str, ResolvedMode] = {}
        for mode_name, mode in (modes or {}).items():
            mode_tools, mode_sources = (
                (self.tools, self.tool_sources)
                if mode.tools is None
                else _tool_table(mode.tools, f"mode {mode_name!r}")
            )
            self.modes[mode_name] = ResolvedMode(
                source=mode.instructions if mode.instructions is not None else own,
                tools=mode_tools,
                sources=mode_sources,
            )
        self.budget = (budget or Budget()).merged(
            Budget(
                max_iterations=max_iterations,
                max_tokens=max_tokens,
                max_cost_usd=max_cost_usd,
                max_wall_seconds=max_wall_seconds,
            )
        )
        self.persist_partial_on_error = persist_partial_on_error
        self.on_unknown = on_unknown
        self.context_window = context_window
        self.observational_memory = observational_memory
        self.approval_expires_after = approval_expires_after
        self.temperature = temperature
        self.env = static_layer(env, f"agent {name!r}")
        self.prompt_env = static_layer(
            None if self.prompt is None else self.prompt.env, f"prompt {self.prompt!r}"
        )
        # Set by a thread definition: its instructions and tools are chosen at each step.
        self.plan: StepPlan | None = None

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    def resolve_mode(self, mode: str | None) -> ResolvedMode:
        if mode is None:
            return ResolvedMode(
                source=self.instructions, tools=self.tools, sources=self.tool_sources
            )
        try:
            return self.modes[mode]
        except KeyError:
            raise ConfigurationError(
                f"agent {self.name!r} has no mode {mode!r}; modes: {sorted(self.modes)}"
            ) from None


@dataclass(frozen=True, kw_only=True)
class ResolvedMode:
    """An agent's instructions and tools in one of its modes (or its default)."""

    source: Instructions | None
    tools: dict[str, Tool] = field(default_factory=dict[str, Tool])
    sources: tuple[ToolSource, ...] = ()  # listed before each step, for the tools they add

    @property
    def instructions(self) -> str | None:
        """The instructions when they are fixed text; None when a callable builds them."""
        return self.source if isinstance(self.source, str) else None

    async def build_instructions(self, view: ThreadView[Any]) -> str | None:
        """The instructions of one model request. Raises `InstructionsError`."""
        source = self.source
        if source is None or isinstance(source, str):
            return source
        try:
            value = source(view)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            # Its type, not its text: a message may hold secrets, and it is stored.
            raise InstructionsError(
                f"the instructions callable raised {type(exc).__name__}"
            ) from exc
        if value is not None and not isinstance(value, str):
            raise InstructionsError(
                f"the instructions callable returned {type(value).__name__}, not text"
            )
        return value


class InstructionsError(ThreadlineError):
    """Dynamic instructions failed; the turn fails with this code."""

    code = "instructions_error"


def _prompt_text(prompt: Prompt, agent: str) -> str:
    try:
        return prompt.render()
    except InvalidInputError as exc:
        raise ConfigurationError(
            f"agent {agent!r}: a prompt used as instructions needs a default for each "
            f"variable ({exc.message})"
        ) from None


def _check_instructions(value: object, owner: str) -> None:
    if value is not None and not isinstance(value, str) and not callable(value):
        raise ConfigurationError(
            f"the instructions of {owner} must be text or a callable that builds them from "
            f"the thread, not {type(value).__name__}"
        )


def _tool_table(
    tools: Sequence[Tool | ToolSource | Callable[..., Any]], owner: str
) -> tuple[dict[str, Tool], tuple[ToolSource, ...]]:
    table: dict[str, Tool] = {}
    sources: dict[str, ToolSource] = {}
    for value in tools:
        if isinstance(value, ToolSource):
            if sources.setdefault(value.name, value) is not value:
                raise ConfigurationError(
                    f"{owner} has two tool sources named {value.name!r}; give one another name"
                )
            continue
        built = as_tool(value)
        if built.name in table:
            raise ConfigurationError(f"{owner} has two tools named {built.name!r}")
        table[built.name] = built
    return table, tuple(sources.values())
