"""Thread definitions: a declarative agent for apps that define many kinds of threads, each
known by a key, whose instructions and tools are chosen at each step from the thread's
persistent context (its `state`) and the `env` of the call that started the turn."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from threadline.models import Model
from threadline.store import ThreadUpdate
from threadline.tools import Tool, ToolSource, as_tool
from threadline.types import (
    Budget,
    ConfigurationError,
    InvalidInputError,
    StepRecord,
    ThreadlineError,
    TurnInProgressError,
)

from ._agent import Agent, InstructionsError
from ._engine_parts import DEFINITION_ENV, StartOptions
from ._input import TurnInput, normalize_input
from ._result import TurnResult
from ._thread import run_with_options

if TYPE_CHECKING:
    from ._app import Threadline
    from ._context import TurnContext

Env = Mapping[str, Any]
ContextBuilder = Callable[[Any, Env], Any]
"""Builds a thread's context from its stored one (None for a new thread) and the env."""
Narrative = Callable[..., str | Awaitable[str]]
"""Builds the instructions from the context, or from `(context, env)`."""
Actions = Callable[..., Sequence[Tool | ToolSource | Callable[..., Any]]]
"""Chooses the tools (and tool sources, as MCP servers) from the context, or from
`(context, env)`."""
StepRule = Callable[[StepRecord], bool | Awaitable[bool]]
"""Says whether a turn goes on after a step."""

_TOOL_CACHE = 512  # tools built from plain functions, kept so each step does not rebuild them


class DefinitionError(ThreadlineError):
    """A thread definition's `actions` or `should_continue` raised, or chose tools that
    cannot be used; the turn fails with this code."""

    code = "definition_error"


@dataclass(frozen=True, kw_only=True, eq=False)
class ThreadDefinition:
    """A kind of thread, known by its `key`: how its context is built, its instructions and
    tools from that context, its model and its stop rule. Build one with `tl.define(key)`,
    register it with `tl.register`, run it with `react`.

    Its threads run an `Agent` named after the key (`agent`), so budgets, approvals,
    events and stores work as for any agent.
    """

    key: str
    description: str | None
    context_builder: ContextBuilder | None
    context_type: type[BaseModel] | None
    narrative: Narrative | str
    actions: Actions | Sequence[Tool | ToolSource | Callable[..., Any]]
    should_continue: StepRule | None
    agent: Agent = field(repr=False)

    async def react(
        self,
        trigger: TurnInput | None,
        *,
        app: Threadline,
        key: str,
        env: Env | None = None,
        max_iterations: int | None = None,
        user_id: str | None = None,
    ) -> TurnResult:
        """Get or create the thread `key` of `user_id`, bring its context up to date, and run
        one turn on it with `trigger` as the input.

        Args:
            trigger: the turn's input, as for `thread.run`.
            app: the app whose store holds the thread; it runs this definition's agent
                even if it was not built with it.
            key: the thread's key, within its owner (`user_id`).
            env: data for this turn, handed to `context`, `narrative` and `actions`; stored
                with the turn (a JSON object), so a turn resumed elsewhere sees it too.
            max_iterations: at most this many model calls in the turn.
            user_id: the thread's owner.

        Returns the `TurnResult` (status "paused" when it waits for a human). Raises as
        `thread.run` does (`TurnFailedError`, `TurnCancelledError`, `TurnInProgressError`);
        `InvalidInputError` for an env that is not a JSON object or a malformed trigger,
        before anything is written; `InvalidInputError` if `key` names a thread of another
        agent.

            result = await support.react("Where is my order?", app=app, key="support.acme.1",
                                         env={"org": "acme"})
        """
        env_json = _json_env(env)
        if trigger is not None:
            normalize_input(trigger, None)  # bad input changes nothing: checked first
        if max_iterations is not None and (
            isinstance(max_iterations, bool)
            or not isinstance(max_iterations, int)
            or max_iterations < 1  # pyright: ignore[reportUnnecessaryIsInstance]
        ):
            raise InvalidInputError("max_iterations must be a whole number of at least 1")
        budget = None if max_iterations is None else Budget(max_iterations=max_iterations)
        engine = app._engine  # pyright: ignore[reportPrivateUsage]
        engine.adopt(self.agent)
        thread = await app.threads.start(key=key, user_id=user_id, agent=self.key)
        record = thread.record
        if record.agent != self.key:
            raise InvalidInputError(
                f"the thread with key {key!r} belongs to agent {record.agent!r}, not to the "
                f"definition {self.key!r}",
                key=key,
            )
        if record.active_turn_id is not None:
            raise TurnInProgressError(
                f"thread {record.thread_id} already has an unfinished turn",
                thread_id=record.thread_id,
                active_turn_id=record.active_turn_id,
            )
        if self.context_builder is not None:
            context = await self._build_context(record.state, env_json)
            if context != record.state:
                thread.record = await engine.store.update_thread(
                    record.thread_id, ThreadUpdate(state=context)
                )
        options = StartOptions(budget=budget, env=env_json)
        stream = run_with_options(thread, trigger, options)
        async for _ in stream:
            pass
        return stream.result

    async def _build_context(self, stored: dict[str, Any] | None, env: Env) -> dict[str, Any]:
        assert self.context_builder is not None
        typed = self.context_type
        current: Any = stored
        if typed is not None and stored is not None:
            current = typed.model_validate(stored)
        value = self.context_builder(current, env)
        if inspect.isawaitable(value):
            value = await value
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json")
        elif typed is not None and isinstance(value, dict):
            value = typed.model_validate(value).model_dump(mode="json")
        if not isinstance(value, dict):
            raise ConfigurationError(
                f"the context of definition {self.key!r} must be a dict or a pydantic model, "
                f"not {type(value).__name__}"
            )
        try:
            return json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"the context of definition {self.key!r} must be JSON (text, numbers, "
                "booleans, None, lists and dicts with text keys)"
            ) from None


def _json_env(env: Env | None) -> dict[str, Any]:
    if env is None:
        return {}
    if not isinstance(env, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidInputError(f"env must be a JSON object (a dict), not {type(env).__name__}")
    try:
        # Given back as it is read after a resume (tuples become lists), so every step sees
        # the same env wherever the turn runs.
        value = json.loads(json.dumps(dict(env), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"env must be JSON-serializable (text, numbers, booleans, None, lists and dicts "
            f"with text keys): {type(exc).__name__}"
        ) from None
    if not all(isinstance(k, str) for k in env):
        raise InvalidInputError("env must have text keys")
    return value


def _takes_env(function: Callable[..., Any]) -> bool:
    """True if `function` takes `(context, env)` rather than `(context)`."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in parameters if p.kind in positional) >= 2


class _Plan:
    """A definition's choices at each step of its turns (`Agent.plan`)."""

    def __init__(self, definition: ThreadDefinition) -> None:
        self._definition = definition
        narrative, actions = definition.narrative, definition.actions
        self._narrative_env = callable(narrative) and _takes_env(narrative)
        self._actions_env = callable(actions) and _takes_env(actions)
        self._tools: dict[int, tuple[object, Tool]] = {}

    @staticmethod
    def _env(ctx: TurnContext) -> dict[str, Any]:
        return ctx.turn.options.get(DEFINITION_ENV) or {}

    async def instructions(self, ctx: TurnContext) -> str | None:
        narrative = self._definition.narrative
        if isinstance(narrative, str):
            return narrative
        context = ctx.typed_state()
        try:
            value: object = (
                narrative(context, self._env(ctx)) if self._narrative_env else narrative(context)
            )
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            # Its type, not its text: a message may hold secrets, and it is stored.
            raise InstructionsError(f"the narrative raised {type(exc).__name__}") from exc
        if not isinstance(value, str | None):
            raise InstructionsError(f"the narrative returned {type(value).__name__}, not text")
        return value

    def tools(self, ctx: TurnContext) -> dict[str, Tool]:
        table: dict[str, Tool] = {}
        for value in self._chosen(ctx):
            if isinstance(value, ToolSource):
                continue
            tool = self._tool(value)
            if table.setdefault(tool.name, tool) is not tool:
                raise DefinitionError(f"the actions chose two tools named {tool.name!r}")
        return table

    def sources(self, ctx: TurnContext) -> tuple[ToolSource, ...]:
        return tuple(value for value in self._chosen(ctx) if isinstance(value, ToolSource))

    def _chosen(self, ctx: TurnContext) -> Sequence[Tool | ToolSource | Callable[..., Any]]:
        actions = self._definition.actions
        if not callable(actions):
            return actions
        context = ctx.typed_state()
        try:
            return actions(context, self._env(ctx)) if self._actions_env else actions(context)
        except Exception as exc:
            raise DefinitionError(f"the actions raised {type(exc).__name__}") from exc

    def _tool(self, value: Tool | Callable[..., Any]) -> Tool:
        if isinstance(value, Tool):
            return value
        cached = self._tools.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        try:
            tool = as_tool(value)
        except ConfigurationError as exc:
            raise DefinitionError(
                f"the actions chose something that is not a tool: {exc}"
            ) from None
        if len(self._tools) >= _TOOL_CACHE:
            self._tools.clear()
        self._tools[id(value)] = (value, tool)
        return tool

    async def continues_after(self, step: StepRecord, ctx: TurnContext) -> bool:
        rule = self._definition.should_continue
        if rule is None:
            return True
        try:
            verdict = rule(step)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        except Exception as exc:
            raise DefinitionError(f"should_continue raised {type(exc).__name__}") from exc
        return bool(verdict)


class DefinitionBuilder:
    """Builds a `ThreadDefinition`; each method returns the builder. See `tl.define`."""

    def __init__(self, key: str) -> None:
        if not isinstance(key, str) or not key.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError("a thread definition needs a non-empty text key")
        self._key = key
        self._context: ContextBuilder | None = None
        self._context_type: type[BaseModel] | None = None
        self._narrative: Narrative | str | None = None
        self._actions: Actions | Sequence[Tool | ToolSource | Callable[..., Any]] = ()
        self._model: str | Model | None = None
        self._should_continue: StepRule | None = None
        self._output_type: type[BaseModel] | Mapping[str, Any] | None = None
        self._budget: Budget | None = None
        self._description: str | None = None

    def context(
        self, builder: ContextBuilder, *, type: type[BaseModel] | None = None
    ) -> DefinitionBuilder:
        """How each `react` builds the thread's context from the stored one (None on a new
        thread; an instance of `type` if given) and the env: a dict or a `type` instance
        (sync or async). It is stored as the thread's `state`, which tools read and change."""
        _check_callable(builder, "context")
        self._context, self._context_type = builder, type
        return self

    def narrative(self, narrative: Narrative | str) -> DefinitionBuilder:
        """The instructions: text, or built at each model call from the context, or from
        `(context, env)` (sync or async)."""
        if not isinstance(narrative, str):
            _check_callable(narrative, "narrative")
        self._narrative = narrative
        return self

    def actions(
        self, actions: Actions | Sequence[Tool | ToolSource | Callable[..., Any]]
    ) -> DefinitionBuilder:
        """The tools: a list, or chosen at each step from the context, or from `(context,
        env)`. Tool sources (`tl.MCPServer`) among them add the tools they list at that step.
        A call to a tool no longer chosen is answered with an error result."""
        if not callable(actions):
            actions = [a if isinstance(a, ToolSource) else as_tool(a) for a in actions]
            names = [t.name for t in actions if isinstance(t, Tool)]
            for name in names:
                if names.count(name) > 1:
                    raise ConfigurationError(
                        f"thread definition {self._key!r} has two tools named {name!r}"
                    )
        self._actions = actions
        return self

    def model(self, model: str | Model) -> DefinitionBuilder:
        """A model spec (`"openai:gpt-4.1-mini"`) or a `Model`; default: the app's."""
        self._model = model
        return self

    def should_continue(self, rule: StepRule) -> DefinitionBuilder:
        """Called with each step's `StepRecord` that the turn would go on from; False ends
        the turn as completed (see the README)."""
        _check_callable(rule, "should_continue")
        self._should_continue = rule
        return self

    def output_type(self, output_type: type[BaseModel] | Mapping[str, Any]) -> DefinitionBuilder:
        """A pydantic model or a JSON Schema that the final answer must match."""
        self._output_type = output_type
        return self

    def budget(self, budget: Budget) -> DefinitionBuilder:
        """Limits for each turn (steps, tokens, cost, wall time)."""
        self._budget = budget
        return self

    def description(self, description: str) -> DefinitionBuilder:
        """What threads of this kind are for."""
        self._description = description
        return self

    def build(self) -> ThreadDefinition:
        """The definition. Raises `ConfigurationError` if it has no narrative, or for a
        model, output type or budget an `Agent` would refuse."""
        if self._narrative is None:
            raise ConfigurationError(
                f"thread definition {self._key!r} needs a narrative (.narrative(...))"
            )
        agent = Agent(
            name=self._key,
            model=self._model,
            output_type=self._output_type,
            state_type=self._context_type,
            budget=self._budget,
            description=self._description,
        )
        definition = ThreadDefinition(
            key=self._key,
            description=self._description,
            context_builder=self._context,
            context_type=self._context_type,
            narrative=self._narrative,
            actions=self._actions,
            should_continue=self._should_continue,
            agent=agent,
        )
        agent.plan = _Plan(definition)
        return definition


def define(key: str) -> DefinitionBuilder:
    """Start a thread definition known by `key`; finish it with `.build()`.

    support = (tl.define("support.thread")
        .context(lambda stored, env: stored or {"org": env["org"]})
        .narrative(lambda ctx: f"You help {ctx['org']}.")
        .actions(lambda ctx: [lookup_order])
        .build())
    """
    return DefinitionBuilder(key)


def _check_callable(value: object, what: str) -> None:
    if not callable(value):
        raise ConfigurationError(f"{what} must be a callable, not {type(value).__name__}")
