"""Observational memory inside a turn: before a model request, condense older raw history
into observations (the observer), merge observations that grew (the reflector), and give the
request the observations and only the raw history they do not cover."""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from threadline._logging import log_failure
from threadline.models import Model, estimate_tokens, resolve_model
from threadline.store import Store
from threadline.types import Item as StoredItem
from threadline.types import (
    MemoryScope,
    NotFoundError,
    Observation,
    TextPart,
    ThreadRecord,
    ToolCall,
    ToolResult,
    Usage,
    UserMessage,
    new_id,
)

from ._memory import ObservationalMemory
from ._side_call import side_call

logger = logging.getLogger("threadline.runtime")

_OBSERVER_INSTRUCTIONS = (
    "You keep the long-term memory of an assistant. Read the conversation below and write "
    "down what is worth remembering later: facts about the user, their preferences, names, "
    "numbers, decisions, results of tools and open tasks. Write one short observation per "
    "line, each starting with the date it happened as YYYY-MM-DD and a colon. The "
    "conversation happened on {dates}. Write only the observations."
)
_REFLECTOR_INSTRUCTIONS = (
    "You keep the long-term memory of an assistant. The observations below grew long: merge "
    "duplicates, drop what is outdated or contradicted by a later observation, and keep "
    "everything still useful. Write one observation per line, each starting with its date as "
    "YYYY-MM-DD and a colon (the date of the newest observation it merges). Write only the "
    "observations."
)
_HEADING = (
    "Observations from earlier conversations (oldest first, each dated when it happened); "
    "they stand in for older messages you no longer see:"
)
_DATED = re.compile(r"^\s*(?:[-*\u2022]\s*)?(\d{4}-\d{2}-\d{2})\s*[:\-\u2013]?\s*(.*)$")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_MAX_OBSERVATIONS = 100  # per observer or reflector answer
_MAX_TEXT = 2_000  # characters per observation


@dataclass(kw_only=True)
class ActiveMemory:
    """A turn's view of its thread's memory: where observations live and how far the
    thread's history is observed."""

    settings: ObservationalMemory
    scope: MemoryScope
    owner: str
    namespace: str
    observed_through: int


async def active_memory(
    store: Store, thread: ThreadRecord, settings: ObservationalMemory
) -> ActiveMemory:
    """The thread's memory: its bound namespace (else its agent's name) and watermark."""
    known = await store.thread_memory(thread.thread_id)
    resource = thread.resource_id
    scope: MemoryScope = "resource" if settings.scope == "resource" and resource else "thread"
    return ActiveMemory(
        settings=settings,
        scope=scope,
        owner=resource if scope == "resource" and resource else thread.thread_id,
        namespace=known.namespace if known is not None else thread.agent,
        observed_through=known.observed_through if known is not None else 0,
    )


def unobserved(items: Sequence[StoredItem], through: int) -> list[StoredItem]:
    """The items after the watermark. A result made up for a request (no seq of its own)
    goes with its call."""
    if through <= 0:
        return list(items)
    kept: list[StoredItem] = []
    calls: set[str] = set()
    for item in items:
        payload = item.payload
        if item.seq > through:
            kept.append(item)
            if isinstance(payload, ToolCall):
                calls.add(payload.tool_call_id)
        elif item.seq <= 0 and (
            not isinstance(payload, ToolResult) or payload.tool_call_id in calls
        ):
            kept.append(item)
    return kept


def observable_prefix(items: Sequence[StoredItem], settings: ObservationalMemory) -> int:
    """How many of `items` (a request's history, oldest first) the observer should condense:
    0 below the threshold. The rest keeps about `recent_tokens`, starts with a user message
    or later, and no tool call is separated from its result (nor any item from the order it
    was stored in)."""
    count = settings.count_tokens
    sizes = [_tokens(i, count) for i in items]
    if sum(sizes) <= settings.threshold_tokens:
        return 0
    last_user = max(
        (n for n, i in enumerate(items) if isinstance(i.payload, UserMessage)), default=0
    )
    cuts = _cuts(items)
    recent, limit = 0, last_user
    for n in range(len(items) - 1, -1, -1):
        recent += sizes[n]
        if recent > settings.recent_tokens:
            limit = min(limit, n + 1)
            break
    return max((c for c in cuts if c <= limit), default=0)


def _cuts(items: Sequence[StoredItem]) -> list[int]:
    """The positions where history may be cut: every call before is answered before, and
    every item before was stored before every item after."""
    suffix_min = [0] * (len(items) + 1)
    lowest = 1 << 62
    for n in range(len(items) - 1, -1, -1):
        if items[n].seq > 0:
            lowest = min(lowest, items[n].seq)
        suffix_min[n] = lowest
    cuts: list[int] = []
    open_calls: set[str] = set()
    highest = 0
    for n, item in enumerate(items):
        payload = item.payload
        if isinstance(payload, ToolCall):
            open_calls.add(payload.tool_call_id)
        elif isinstance(payload, ToolResult):
            open_calls.discard(payload.tool_call_id)
        highest = max(highest, item.seq)
        if not open_calls and highest > 0 and highest < suffix_min[n + 1]:
            cuts.append(n + 1)
    return cuts


async def observe(
    memory: ActiveMemory, model: Model, thread_id: str, items: Sequence[StoredItem]
) -> tuple[list[Observation], int, Usage]:
    """The observer's call on `items`: the observations, the last seq they cover, usage."""
    stamps = [i.created_at for i in items if i.seq > 0]
    dates = sorted({_day(t) for t in stamps})
    instructions = _OBSERVER_INSTRUCTIONS.format(
        dates=dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    )
    text, usage = await side_call(model, instructions, items)
    observations = _parsed(text, memory, default_time=max(stamps), source=thread_id)
    return observations, max(i.seq for i in items), usage


async def reflect(
    memory: ActiveMemory, model: Model, observations: Sequence[Observation]
) -> tuple[list[Observation], Usage]:
    """The reflector's call: fewer observations standing for `observations`, and usage."""
    listing = UserMessage(content=(TextPart(text=block(observations)),))
    shown = StoredItem(
        item_id="reflection",
        thread_id="",
        turn_id=None,
        seq=0,
        status="completed",
        payload=listing,
        created_at=time.time(),
    )
    text, usage = await side_call(model, _REFLECTOR_INSTRUCTIONS, [shown])
    newest = max(o.observed_at for o in observations)
    return _parsed(text, memory, default_time=newest, source=None), usage


def block(observations: Sequence[Observation]) -> str:
    return "\n".join(f"- {_day(o.observed_at)}: {o.text}" for o in observations)


def with_observations(instructions: str | None, observations: Sequence[Observation]) -> str | None:
    """The request's instructions followed by the observations, if there are any."""
    if not observations:
        return instructions
    memory = f"{_HEADING}\n{block(observations)}"
    return f"{instructions}\n\n{memory}" if instructions else memory


def size(observations: Sequence[Observation]) -> int:
    """The observations' tokens, as a request carries them (about 4 characters a token)."""
    return len(block(observations)) // 4


def memory_model(settings: ObservationalMemory, services: Any) -> Model:
    """The observer's model: its own, else the app's default, resolved once per engine."""
    spec = settings.model if settings.model is not None else services.default_model
    if not isinstance(spec, str):
        return spec
    resolved: dict[str, Model] = services.memory_models
    model = resolved.get(spec)
    if model is None:
        model = resolved[spec] = resolve_model(spec)
    return model


def log_memory_failure(what: str, thread_id: str, exc: BaseException) -> None:
    if isinstance(exc, NotFoundError):
        return  # the thread was deleted meanwhile: nothing to remember it by
    log_failure(
        logger,
        "the %s of thread %s failed; the request carries raw history",
        what,
        thread_id,
        exc=exc,
        level=logging.WARNING,
    )


def _parsed(
    text: str, memory: ActiveMemory, *, default_time: float, source: str | None
) -> list[Observation]:
    now = time.time()
    found: list[Observation] = []
    for line in text.splitlines():
        observed_at = default_time
        dated = _DATED.match(line)
        if dated is not None:
            line = dated[2]
            observed_at = _time_of(dated[1], default_time)
        line = _BULLET.sub("", line).strip()[:_MAX_TEXT]
        if not line:
            continue
        found.append(
            Observation(
                observation_id=new_id("obs"),
                scope=memory.scope,
                owner=memory.owner,
                namespace=memory.namespace,
                text=line,
                observed_at=observed_at,
                created_at=now,
                updated_at=now,
                source_thread_id=source,
            )
        )
        if len(found) == _MAX_OBSERVATIONS:
            break
    return found


def _tokens(item: StoredItem, count: Any) -> int:
    return int((count or estimate_tokens)(item))


def _day(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).date().isoformat()


def _time_of(day: str, default: float) -> float:
    try:
        moment = datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC)
    except ValueError:
        return default
    # A date the observer gives is a day; the observed events' own time, if that day.
    return default if _day(default) == day else moment.timestamp()
