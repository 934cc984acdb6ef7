"""Keeping each model request inside the model's context window. The stored thread keeps
everything; only the request is trimmed, or older history is summarised into a stored item."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from threadline.models import (
    TokenCounter,
    ToolSpec,
    estimate_tokens,
    fit_history,
)
from threadline.types import ConfigurationError, Item, SystemEvent, Usage

from ._history import SUMMARY_PHASE
from ._side_call import side_call

_SUMMARY_PREFIX = "Summary of the earlier conversation: "
_SUMMARY_INSTRUCTIONS = (
    "Summarise the conversation below for your own later use: the facts, decisions, names, "
    "numbers and open questions it contains, in at most 200 words. Write only the summary."
)


@dataclass(frozen=True, kw_only=True)
class ContextWindow:
    """How an agent keeps requests inside the model's context window.

        tl.Agent(name="a", context_window=tl.ContextWindow(max_tokens=8000,
                                                         strategy="summarize"))

    Args:
        max_tokens: the model's context window, in tokens.
        reserve_tokens: room kept free for the answer.
        strategy: "drop" leaves the oldest history out of the request; "summarize" has the
            model summarise what is left out into a stored `system_event` (phase "summary")
            that later requests carry instead.
        count_tokens: how to count an item's tokens (default: about 4 characters a token).
    """

    max_tokens: int
    reserve_tokens: int = 512
    strategy: Literal["drop", "summarize"] = "drop"
    count_tokens: TokenCounter | None = None

    def __post_init__(self) -> None:
        if self.max_tokens <= self.reserve_tokens or self.reserve_tokens < 0:
            raise ConfigurationError(
                "context_window.max_tokens must exceed reserve_tokens, "
                "and reserve_tokens must not be negative"
            )
        if self.strategy not in ("drop", "summarize"):
            raise ConfigurationError("context_window.strategy must be 'drop' or 'summarize'")

    def budget(self, instructions: str | None, tools: Sequence[ToolSpec]) -> int:
        """Tokens left for history once instructions, tools and the answer are counted."""
        fixed = len(instructions or "") // 4 + sum(
            len(
                orjson.dumps(
                    {"name": t.name, "description": t.description, "parameters": t.parameters}
                )
            )
            // 4
            for t in tools
        )
        return max(1, self.max_tokens - self.reserve_tokens - fixed)

    def fit(
        self, items: Sequence[Item], instructions: str | None, tools: Sequence[ToolSpec]
    ) -> tuple[list[Item], list[Item]]:
        """(kept, dropped) items for a request. A leading summary is always kept: it stands
        for everything before the rest."""
        count = self.count_tokens or estimate_tokens
        head = leading_summary(items)
        budget = max(1, self.budget(instructions, tools) - sum(count(i) for i in head))
        result = fit_history(items[len(head) :], max_tokens=budget, count_tokens=count)
        return [*head, *result.items_kept], list(result.items_dropped)


def window_for(setting: ContextWindow | int | None, model: Any) -> ContextWindow | None:
    """The agent's window; else the one the model declares (`context_window` tokens)."""
    if isinstance(setting, ContextWindow):
        return setting
    if isinstance(setting, int):
        return ContextWindow(max_tokens=setting)
    declared = getattr(model, "context_window", None)
    if isinstance(declared, int) and declared > 0:
        return ContextWindow(max_tokens=declared, reserve_tokens=min(512, declared // 4))
    return None


def with_summary(items: Sequence[Item]) -> list[Item]:
    """The history as the model sees it once a summary exists: the latest summary first, in
    place of the items it covers."""
    summary: Item | None = None
    for item in reversed(items):
        payload = item.payload
        if isinstance(payload, SystemEvent) and payload.phase == SUMMARY_PHASE:
            summary = item
            break
    if summary is None:
        return list(items)
    covered = int(summary.payload.data["through_seq"])  # type: ignore[union-attr]
    return [
        summary,
        *(i for i in items if i.seq > covered and i is not summary and not _is_summary(i)),
    ]


def leading_summary(items: Sequence[Item]) -> list[Item]:
    """The summary that opens `items`, if one does."""
    return list(items[:1]) if items and _is_summary(items[0]) else []


def _is_summary(item: Item) -> bool:
    return isinstance(item.payload, SystemEvent) and item.payload.phase == SUMMARY_PHASE


async def summarize(model: Any, dropped: Sequence[Item]) -> tuple[SystemEvent, Usage]:
    """Ask the model to summarise `dropped` (which may start with an earlier summary)."""
    text, usage = await side_call(model, _SUMMARY_INSTRUCTIONS, dropped)
    through = max(i.seq for i in dropped)
    return SystemEvent(
        phase=SUMMARY_PHASE, message=_SUMMARY_PREFIX + text, data={"through_seq": through}
    ), usage
