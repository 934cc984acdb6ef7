from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class Usage:
    """Tokens and cost of one model call, or the sum over a turn."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = 0.0  # None: the price of a model involved is unknown

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        cost = (
            None
            if self.cost_usd is None or other.cost_usd is None
            else (self.cost_usd + other.cost_usd)
        )
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            cost_usd=cost,
        )

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Usage:
        if not data:
            return cls()
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """Limits for one turn. `None` means unlimited. Counters come from stored records."""

    max_iterations: int | None = None  # steps: model calls, and batches of calls tools queued
    max_tokens: int | None = None  # input + output tokens over all steps
    max_cost_usd: float | None = None  # needs a priced model: see `strict_cost`
    max_wall_seconds: float | None = None  # time the turn ran, not the time it waited
    strict_cost: bool | None = None  # True: a model without a price fails the turn (with
    # `max_cost_usd`) instead of an `UnpricedModelWarning`

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Budget:
        if not data:
            return cls()
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def merged(self, override: Budget | None) -> Budget:
        """This budget with every limit that `override` sets replaced."""
        if override is None:
            return self
        return Budget(
            **{
                f.name: getattr(override, f.name)
                if getattr(override, f.name) is not None
                else getattr(self, f.name)
                for f in fields(self)
            }
        )
