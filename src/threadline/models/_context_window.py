"""Fit a thread's history into a model's context window by dropping its oldest parts whole."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from threadline.types import (
    AgentMessage,
    ImagePart,
    Item,
    Reasoning,
    SystemEvent,
    ToolCall,
    ToolResult,
    UserMessage,
    payload_call_id,
    payload_to_dict,
)

TokenCounter = Callable[[Item], int]
"""Tokens that one item takes in a request."""

CHARS_PER_TOKEN = 4
ITEM_OVERHEAD_TOKENS = 4  # the role and separators around each message
IMAGE_TOKENS = 1_000  # a typical image at `auto` detail; providers count 85 to ~1,600


@dataclass(frozen=True, kw_only=True, slots=True)
class FitResult:
    """What `fit_history` kept and dropped, each in history order."""

    items_kept: tuple[Item, ...]
    items_dropped: tuple[Item, ...]
    tokens_kept: int  # by the counter that was given
    over_budget: bool  # even what must be kept does not fit in `max_tokens`


def fit_history(
    items: Sequence[Item],
    *,
    max_tokens: int,
    count_tokens: TokenCounter | None = None,
    keep_whole_newest: int = 1,
) -> FitResult:
    """Keep the newest part of `items` that fits in `max_tokens`, dropping older parts.

    The history is cut into units that are kept or dropped whole: a tool call with its
    result (and any approval items of the same call), and a step's reasoning with the text
    and calls it goes with, since providers refuse one without the other. Then, from the
    newest unit back, units are kept while they fit; the first that does not fit ends the
    kept part, so what is kept is the newest stretch of history with no holes, except that
    the latest user message and the newest `keep_whole_newest` units are always kept, even
    over budget (then `over_budget` is True). The kept part starts at a user message
    when one is kept, so the model never reads an answer without its question.

    Args:
        items: the history, oldest first.
        max_tokens: the budget for the items alone: the context window less the
            instructions, the tools and the room for the answer.
        count_tokens: tokens per item; `estimate_tokens` (about 4 characters a token) by
            default, or a model's real tokenizer such as `LocalModel.token_counter()`.
        keep_whole_newest: how many of the newest units are kept whatever they cost.

    Raises:
        ValueError: `max_tokens` or `keep_whole_newest` is negative.

    Example:
        >>> result = fit_history(thread_items, max_tokens=6_000)
        >>> request_items, summarise = result.items_kept, result.items_dropped
    """
    if max_tokens < 0 or keep_whole_newest < 0:
        raise ValueError("max_tokens and keep_whole_newest must not be negative")
    counter = count_tokens or estimate_tokens
    units = _units(items)
    costs = [sum(counter(items[i]) for i in unit) for unit in units]
    latest_user = next(
        (i for i in range(len(items) - 1, -1, -1) if isinstance(items[i].payload, UserMessage)),
        None,
    )
    required = {len(units) - 1 - n for n in range(min(keep_whole_newest, len(units)))}
    required.update(u for u, unit in enumerate(units) if latest_user in unit)
    kept = set(required)
    spent = sum(costs[u] for u in required)
    for u in range(len(units) - 1, -1, -1):
        if u in required:
            continue
        if spent + costs[u] > max_tokens:
            break
        kept.add(u)
        spent += costs[u]
    first_user = next((u for u in sorted(kept) if _has_user_message(units[u], items)), None)
    if first_user is not None:
        answers_first = [u for u in kept if u < first_user and u not in required]
        kept.difference_update(answers_first)
        spent -= sum(costs[u] for u in answers_first)
    kept_indexes = sorted(i for u in kept for i in units[u])
    kept_set = set(kept_indexes)
    return FitResult(
        items_kept=tuple(items[i] for i in kept_indexes),
        items_dropped=tuple(item for i, item in enumerate(items) if i not in kept_set),
        tokens_kept=spent,
        over_budget=spent > max_tokens,
    )


def estimate_tokens(item: Item) -> int:
    """About how many tokens `item` takes: its text at 4 characters a token, a fixed
    `IMAGE_TOKENS` per image, and a little for the message around it."""
    images = 0
    payload = item.payload
    if isinstance(payload, UserMessage):
        images = sum(1 for part in payload.content if isinstance(part, ImagePart))
    characters = len(item_text(item))
    return (
        ITEM_OVERHEAD_TOKENS
        + images * IMAGE_TOKENS
        + (characters + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
    )


def item_text(item: Item) -> str:
    """The text of `item` that a model reads (images left out)."""
    payload = item.payload
    if isinstance(payload, UserMessage | AgentMessage | Reasoning):
        return item.text
    if isinstance(payload, ToolCall):
        return payload.name + payload.arguments
    if isinstance(payload, ToolResult):
        return payload.output
    if isinstance(payload, SystemEvent):
        return payload.message
    return json.dumps(payload_to_dict(payload), default=str)


def _units(items: Sequence[Item]) -> list[list[int]]:
    """Indexes of `items` grouped into units that are kept or dropped together, ordered by
    their newest item."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        parent[find(a)] = find(b)

    by_call: dict[str, int] = {}
    step_start: int | None = None  # the reasoning item whose step is being read
    for index, item in enumerate(items):
        payload = item.payload
        call_id = payload_call_id(payload)
        if call_id is not None:
            if call_id in by_call:
                union(index, by_call[call_id])
            else:
                by_call[call_id] = index
        if isinstance(payload, Reasoning):
            step_start = index
        elif (
            isinstance(payload, AgentMessage | ToolCall)
            and step_start is not None
            and (items[step_start].turn_id == item.turn_id)
        ):
            union(index, step_start)
        else:
            step_start = None
    groups: dict[int, list[int]] = {}
    for index in range(len(items)):
        groups.setdefault(find(index), []).append(index)
    return sorted(groups.values(), key=lambda unit: unit[-1])


def _has_user_message(unit: list[int], items: Sequence[Item]) -> bool:
    return any(isinstance(items[i].payload, UserMessage) for i in unit)
