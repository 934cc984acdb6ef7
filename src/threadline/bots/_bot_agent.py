"""The agent a bot runs: a copy of one of the app's agents under the bot's own name, whose tools
at each step are the agent's, the bot's and those the turn's `run_agent` call added (named in
the turn's stored options, so a turn resumed in another process offers the same ones)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from threadline.runtime import Agent, Threadline
from threadline.tools import Tool, ToolSource, as_tool
from threadline.types import ConfigurationError, StepRecord

if TYPE_CHECKING:
    from threadline.runtime._context import TurnContext

RUN_TOOLS = "tools"  # the names of a run's own tools, in the turn's bot annotations
BOT_ANNOTATIONS = "bot"


class BotPlan:
    """Instructions as the copied agent builds them; tools layered as described above."""

    def __init__(self, bot_tools: Mapping[str, Tool], run_tools: Mapping[str, Tool]) -> None:
        self._bot_tools = bot_tools
        self._run_tools = run_tools

    async def instructions(self, ctx: TurnContext) -> str | None:
        return await ctx.agent.resolve_mode(ctx.thread.mode).build_instructions(ctx.view())

    def tools(self, ctx: TurnContext) -> dict[str, Tool]:
        table = dict(ctx.agent.resolve_mode(ctx.thread.mode).tools)
        table.update(self._bot_tools)
        for name in run_tool_names(ctx.turn.options):
            tool = self._run_tools.get(name)
            if tool is not None:  # a process that never saw it: calls get an error result
                table[name] = tool
        return table

    def sources(self, ctx: TurnContext) -> tuple[ToolSource, ...]:
        return ctx.agent.resolve_mode(ctx.thread.mode).sources

    async def continues_after(self, step: StepRecord, ctx: TurnContext) -> bool:
        return True


def run_tool_names(options: Mapping[str, Any]) -> list[str]:
    annotations = options.get("annotations") or {}
    ours = annotations.get(BOT_ANNOTATIONS) or {}
    names = ours.get(RUN_TOOLS) or []
    return [n for n in names if isinstance(n, str)]


def bot_agent(
    app: Threadline,
    base: str | Agent | None,
    name: str,
    *,
    state_type: type[BaseModel] | None,
    tools: Sequence[Tool],
    run_tools: Mapping[str, Tool],
) -> Agent:
    """The bot's agent, named `name`, added to `app`. Raises `ConfigurationError` for an
    unknown base agent or a name the app already uses."""
    agents = app.agents
    if base is None:
        base = next(iter(agents.values()))
    elif isinstance(base, str):
        if base not in agents:
            raise ConfigurationError(
                f"the app has no agent named {base!r}; agents: {sorted(agents)}"
            )
        base = agents[base]
    elif not isinstance(base, Agent):
        raise ConfigurationError(f"a bot's agent is an Agent or an agent's name, not {base!r}")
    if name in agents:
        raise ConfigurationError(
            f"the app already has an agent named {name!r}: give the bot another name"
        )
    agent = copy.copy(base)
    agent.name = name
    if state_type is not None:
        agent.state_type = state_type
    agent.plan = BotPlan({t.name: t for t in tools}, run_tools)
    # The runtime's own seam for agents met at run time (thread definitions use it too).
    app._engine.adopt(agent)  # pyright: ignore[reportPrivateUsage]
    return agent


def tool_table(tools: Sequence[Any], owner: str) -> tuple[Tool, ...]:
    built = [as_tool(t) for t in tools]
    names = [t.name for t in built]
    for tool_name in names:
        if names.count(tool_name) > 1:
            raise ConfigurationError(f"{owner} has two tools named {tool_name!r}")
    return tuple(built)
