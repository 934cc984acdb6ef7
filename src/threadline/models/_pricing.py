"""What a model call costs: prices per million tokens, per model, that callers can override."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

_MILLION = 1_000_000
# Provider snapshots and aliases share the price of their model: `gpt-4o-2024-08-06`,
# `claude-sonnet-4-5-20250929`, `claude-3-5-haiku-latest`.
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelPrice:
    """USD per million tokens. `cached_input` is the price of input read from the provider's
    prompt cache, `cache_write` of input written to it (Anthropic); None means the input
    price. `long_context` is `(threshold, price)`: a call whose input exceeds `threshold`
    tokens is billed entirely at `price`, as some providers do for very long prompts."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    long_context: tuple[int, ModelPrice] | None = None

    def cost(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """The cost in USD. `input_tokens` counts every input token, cached ones included."""
        if self.long_context is not None and input_tokens > self.long_context[0]:
            return self.long_context[1].cost(
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cached_input_tokens=cached_input_tokens,
                cache_write_tokens=cache_write_tokens,
            )
        uncached = max(0, input_tokens - cached_input_tokens - cache_write_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        write_price = self.input if self.cache_write is None else self.cache_write
        return (
            uncached * self.input
            + cached_input_tokens * cached_price
            + cache_write_tokens * write_price
            + output_tokens * self.output
        ) / _MILLION


def _price(
    input: float,
    cached_input: float,
    output: float,
    cache_write: float | None = None,
    long_context: tuple[int, ModelPrice] | None = None,
) -> ModelPrice:
    return ModelPrice(
        input=input,
        output=output,
        cached_input=cached_input,
        cache_write=cache_write,
        long_context=long_context,
    )


_OPUS_4 = _price(15, 1.5, 75, 18.75)
_OPUS_4_5 = _price(5, 0.5, 25, 6.25)
_SONNET_4 = _price(3, 0.3, 15, 3.75)

# Published list prices (standard tier) as of November 2026. Providers change them: override
# with `PriceTable.register_price` or the `prices=` option of a backend.
DEFAULT_PRICES: Mapping[str, ModelPrice] = MappingProxyType(
    {
        # OpenAI
        "gpt-4o": _price(2.5, 1.25, 10),
        "gpt-4o-mini": _price(0.15, 0.075, 0.6),
        "gpt-4.1": _price(2, 0.5, 8),
        "gpt-4.1-mini": _price(0.4, 0.1, 1.6),
        "gpt-4.1-nano": _price(0.1, 0.025, 0.4),
        "o1": _price(15, 7.5, 60),
        "o3": _price(2, 0.5, 8),
        "o3-mini": _price(1.1, 0.55, 4.4),
        "o4-mini": _price(1.1, 0.275, 4.4),
        "gpt-5": _price(1.25, 0.125, 10),
        "gpt-5-mini": _price(0.25, 0.025, 2),
        "gpt-5-nano": _price(0.05, 0.005, 0.4),
        "gpt-5.1": _price(1.25, 0.125, 10),
        "gpt-5.2": _price(1.75, 0.175, 14),
        "gpt-5.4": _price(2.5, 0.25, 15, long_context=(272_000, _price(5, 0.5, 22.5))),
        "gpt-5.4-mini": _price(0.75, 0.075, 4.5),
        "gpt-5.4-nano": _price(0.2, 0.02, 1.25),
        "gpt-5.5": _price(5, 0.5, 30, long_context=(272_000, _price(10, 1, 45))),
        # Anthropic
        "claude-3-haiku": _price(0.25, 0.03, 1.25, 0.3),
        "claude-3-5-haiku": _price(0.8, 0.08, 4, 1),
        "claude-3-7-sonnet": _SONNET_4,
        "claude-sonnet-4": _SONNET_4,
        "claude-sonnet-4-0": _SONNET_4,
        "claude-sonnet-4-5": _price(
            3, 0.3, 15, 3.75, long_context=(200_000, _price(6, 0.6, 22.5, 7.5))
        ),
        "claude-sonnet-4-6": _SONNET_4,
        "claude-sonnet-5": _price(2, 0.2, 10, 2.5),
        "claude-haiku-4-5": _price(1, 0.1, 5, 1.25),
        "claude-opus-4": _OPUS_4,
        "claude-opus-4-0": _OPUS_4,
        "claude-opus-4-1": _OPUS_4,
        "claude-opus-4-5": _OPUS_4_5,
        "claude-opus-4-6": _OPUS_4_5,
        "claude-opus-4-7": _OPUS_4_5,
        "claude-opus-4-8": _OPUS_4_5,
        "claude-opus-5": _OPUS_4_5,
    }
)


class PriceTable:
    """Prices per model: the defaults (unless `defaults=False`), then `prices`, then what
    `register_price` adds. Each backend has its own table unless one is shared on purpose.

    Args:
        prices: prices that replace or add to the defaults, by model name.
        defaults: start from `DEFAULT_PRICES`.

    Example:
        >>> table = PriceTable({"my-finetune": ModelPrice(input=1.0, output=2.0)})
        >>> table.cost("my-finetune", input_tokens=1_000_000, output_tokens=0)
        1.0
    """

    def __init__(
        self, prices: Mapping[str, ModelPrice] | None = None, *, defaults: bool = True
    ) -> None:
        self._prices: dict[str, ModelPrice] = dict(DEFAULT_PRICES) if defaults else {}
        self._prices.update(prices or {})

    def register_price(
        self,
        model: str,
        *,
        input: float,
        output: float,
        cached_input: float | None = None,
        cache_write: float | None = None,
    ) -> None:
        """Set the price of `model` (USD per million tokens) in this table."""
        self._prices[model] = ModelPrice(
            input=input, output=output, cached_input=cached_input, cache_write=cache_write
        )

    def price(self, model: str) -> ModelPrice | None:
        """The price of `model` or of the model it is a dated snapshot of; None if unknown."""
        found = self._prices.get(model)
        if found is None:
            found = self._prices.get(_SNAPSHOT_SUFFIX.sub("", model))
        return found

    def cost(
        self,
        model: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float | None:
        """The cost in USD of one call, or None if the model's price is unknown."""
        price = self.price(model)
        if price is None:
            return None
        return price.cost(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            cache_write_tokens=cache_write_tokens,
        )
