"""What every backend behind an HTTP API shares: retries, timeouts, prices and closing."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Self

from threadline.types import ConfigurationError, Usage

from ._pricing import PriceTable
from ._protocol import ModelEvent, ModelRequest
from ._retry import CallSettings, RetryPolicy, Sleep, stream_with_retries


class RemoteModel(ABC):
    """Base of the remote backends. A subclass builds its client and implements `_attempt`,
    one call of the provider that yields deltas and a final `ModelResponse` and raises
    `ModelError`s; `stream` adds retries before the first delta and the timeouts."""

    def __init__(
        self,
        model: str,
        *,
        name: str,
        retry: RetryPolicy | None,
        first_token_timeout: float | None,
        total_timeout: float | None,
        prices: PriceTable | None,
        sleep: Sleep | None,
    ) -> None:
        for label, value in (
            ("first_token_timeout", first_token_timeout),
            ("total_timeout", total_timeout),
        ):
            if value is not None and value <= 0:
                raise ConfigurationError(
                    f"{label} must be a positive number of seconds", model=model
                )
        self._model = model
        self._name = name
        self._prices = prices if prices is not None else PriceTable()
        self._settings = CallSettings(
            model=model,
            retry=retry if retry is not None else RetryPolicy(),
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
            sleep=sleep if sleep is not None else asyncio.sleep,
        )

    @property
    def name(self) -> str:
        """A spec that `resolve_model` turns back into an equivalent backend."""
        return self._name

    @property
    def model(self) -> str:
        """The provider's name of the model."""
        return self._model

    @property
    def prices(self) -> PriceTable:
        """The price table that this backend's `Usage.cost_usd` comes from."""
        return self._prices

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent]:
        """Call the model, yielding deltas as they arrive and one final `ModelResponse`.

        Raises:
            ModelError: the call failed after the retries the policy allows; a subclass
                such as `ContextLengthError` says why. Once a delta was yielded, a failure
                is raised at once, retryable, and no `ModelResponse` follows.
            ConfigurationError: the backend cannot express this request.
        """
        return stream_with_retries(lambda: self._attempt(request), self._settings)

    @abstractmethod
    def _attempt(self, request: ModelRequest) -> AsyncGenerator[ModelEvent]: ...

    @abstractmethod
    async def aclose(self) -> None:
        """Close the HTTP client, if this backend built it."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def usage(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        reasoning_tokens: int = 0,
        response_model: str | None = None,
    ) -> Usage:
        """Usage with its cost from this backend's prices; `input_tokens` counts every input
        token, cached ones included. The requested model's price is used, else that of the
        model the provider says answered."""
        cost = None
        for model in (self._model, response_model):
            if model and cost is None:
                cost = self._prices.cost(
                    model,
                    input_tokens=input_tokens,
                    output_tokens=output_tokens,
                    cached_input_tokens=cached_input_tokens,
                    cache_write_tokens=cache_write_tokens,
                )
        return Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached_input_tokens,
            reasoning_tokens=reasoning_tokens,
            cost_usd=cost,
        )
