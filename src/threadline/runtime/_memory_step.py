"""Observational memory before a model request: observe older history that grew past the
threshold, reflect on observations that grew, and give the request its observations."""

from __future__ import annotations

from collections.abc import Callable

from threadline.types import ModelError, Usage

from ._context import TurnContext
from ._model_step import request_parts
from ._observer import (
    active_memory,
    log_memory_failure,
    memory_model,
    observable_prefix,
    observe,
    reflect,
    size,
    with_observations,
)


async def remember(
    ctx: TurnContext, instructions: str | None, count: Callable[[Usage, str], None]
) -> str | None:
    """With observational memory, condense older history into observations when it grew
    past the threshold (merging observations that grew too), and return the
    instructions with the observations added. A failing observer or reflector leaves
    the raw history; it does not fail the turn."""
    settings = ctx.agent.observational_memory
    if settings is None or ctx.model is None:
        return instructions
    thread_id = ctx.thread.thread_id
    memory = ctx.memory = ctx.memory or await active_memory(ctx.store, ctx.thread, settings)
    _, items = request_parts(ctx)
    cut = observable_prefix(items, settings)
    if cut:
        try:
            model = memory_model(settings, ctx.services)
            found, through, usage = await observe(memory, model, thread_id, items[:cut])
            count(usage, "observation")
            if not found:
                raise ModelError("the observer wrote no observation")
            if await ctx.store.record_observations(
                thread_id,
                memory.namespace,
                after=memory.observed_through,
                through=through,
                observations=found,
            ):
                memory.observed_through = through
            else:  # another process observed this history already: take its watermark
                memory = ctx.memory = await active_memory(ctx.store, ctx.thread, settings)
        except Exception as exc:
            log_memory_failure("observer", thread_id, exc)
    observations = await ctx.store.list_observations(memory.scope, memory.owner, memory.namespace)
    if size(observations) > settings.reflect_threshold_tokens:
        try:
            model = memory_model(settings, ctx.services)
            merged, usage = await reflect(memory, model, observations)
            count(usage, "reflection")
            replaced = [o.observation_id for o in observations]
            if merged and await ctx.store.replace_observations(
                memory.scope, memory.owner, memory.namespace, replaced, merged
            ):
                observations = sorted(merged, key=lambda o: o.observed_at)
        except Exception as exc:
            log_memory_failure("reflector", thread_id, exc)
    return with_observations(instructions, observations)
