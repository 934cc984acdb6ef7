"""Whether a turn's cost limit can be enforced: a model without a price reports no cost, so
`max_cost_usd` would silently never trip. The price is known before a call when the model
exposes its price table (`prices` and `model`, as the remote backends do); otherwise the first
step's usage tells (`cost_usd is None`)."""

from __future__ import annotations

import warnings

from threadline.models import Model, PriceTable
from threadline.types import Budget, ConfigurationError, UnpricedModelWarning, Usage


def price_known(model: Model) -> bool | None:
    """Whether the model's own price table has its price; None if it cannot say."""
    prices = getattr(model, "prices", None)
    name = getattr(model, "model", None)
    if isinstance(prices, PriceTable) and isinstance(name, str):
        return prices.price(name) is not None
    return None


def _problem(budget: Budget, model: Model) -> str:
    return (
        f"max_cost_usd={budget.max_cost_usd:g} cannot be enforced: model {model.name!r} has "
        "no price, so its cost is unknown; give it one (PriceTable.register_price, or the "
        "backend's prices=)"
    )


def refuse_unpriced(budget: Budget, model: Model) -> None:
    """Before anything is stored: with `strict_cost`, refuse a model known to have no price.
    Raises `ConfigurationError`."""
    if budget.max_cost_usd is not None and budget.strict_cost and price_known(model) is False:
        raise ConfigurationError(_problem(budget, model), model=model.name)


class CostGuard:
    """Checks once per turn segment that the cost limit can be counted: before the first
    model call if the model can say, else at the first step's usage. Unenforceable: an
    `UnpricedModelWarning`, or with `strict_cost` a `ConfigurationError` that fails the turn."""

    def __init__(self, budget: Budget, model: Model | None) -> None:
        self._budget = budget
        self._model = model
        self._settled = budget.max_cost_usd is None or model is None

    def before_call(self) -> None:
        if self._settled:
            return
        assert self._model is not None
        known = price_known(self._model)
        if known is not None:
            self._settled = True
            if not known:
                self._complain()

    def after_usage(self, usage: Usage) -> None:
        if self._settled:
            return
        self._settled = True
        if usage.cost_usd is None:
            self._complain()

    def _complain(self) -> None:
        assert self._model is not None
        message = _problem(self._budget, self._model)
        if self._budget.strict_cost:
            raise ConfigurationError(message, model=self._model.name)
        try:
            warnings.warn(message, UnpricedModelWarning, stacklevel=2)
        except UnpricedModelWarning:
            # Warnings made errors (`-W error`) ask for strictness: fail the turn cleanly.
            raise ConfigurationError(message, model=self._model.name) from None
