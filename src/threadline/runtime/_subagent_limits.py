from __future__ import annotations

from dataclasses import dataclass

from threadline.types import ConfigurationError


@dataclass(frozen=True, kw_only=True)
class SubagentLimits:
    """How far a tree of threads may grow, so that a model cannot spawn without end: a
    thread of its own has depth 0, its children 1, and so on. A spawn past a limit raises
    `SubagentLimitError`, which a tool's model reads as an error result."""

    max_depth: int = 4
    max_children_per_turn: int = 16

    def __post_init__(self) -> None:
        if self.max_depth < 1 or self.max_children_per_turn < 1:
            raise ConfigurationError("subagent limits must be at least 1")
