"""Retries and timeouts around one streamed model call, shared by the remote backends.

A failed attempt is tried again only while nothing has been yielded: once a delta reached the
caller, the caller has shown it, so the error goes up (retryable) and the runtime re-runs the
whole step instead of this layer splicing two generations together.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from threadline.types import ModelError

from ._errors import ModelOverloadedError, ModelRateLimitError, ModelServerError, ModelTimeoutError
from ._protocol import ModelEvent, ModelResponse

Sleep = Callable[[float], Awaitable[None]]
"""How a backend waits between attempts; `asyncio.sleep` unless a test injects a fake."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How a remote model retries a retryable error that happens before its first delta.

    Args:
        max_attempts: attempts in all, the first included; 1 turns retries off.
        initial_delay: seconds before the second attempt.
        multiplier: each later delay is this many times the one before.
        max_delay: the longest backoff delay, in seconds.
        jitter: each backoff delay is moved at random by up to this fraction of it, so many
            clients that failed together do not retry together.
        max_retry_after: a provider that asks to wait longer than this (in `Retry-After`)
            gets no retry: the error goes up at once.

    Example:
        >>> RetryPolicy(max_attempts=5, initial_delay=1.0).backoff(2, random_fraction=0.5)
        2.0
    """

    max_attempts: int = 3
    initial_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 20.0
    jitter: float = 0.25
    max_retry_after: float = 60.0

    def backoff(self, retry: int, *, random_fraction: float) -> float:
        """The delay before retry number `retry` (1 for the second attempt), when the
        provider did not say how long to wait. `random_fraction` is uniform in [0, 1)."""
        delay = min(self.max_delay, self.initial_delay * self.multiplier ** (retry - 1))
        return max(0.0, delay * (1 + self.jitter * (2 * random_fraction - 1)))

    def delay(self, retry: int, error: ModelError, *, random_fraction: float) -> float | None:
        """Seconds to wait before retry number `retry`, or None to give up."""
        if not error.retryable or retry >= self.max_attempts:
            return None
        retry_after = _retry_after(error)
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff(retry, random_fraction=random_fraction)


NO_RETRIES = RetryPolicy(max_attempts=1)


@dataclass(frozen=True, kw_only=True, slots=True)
class CallSettings:
    """What the shared layer needs for each call of a backend."""

    model: str
    retry: RetryPolicy
    first_token_timeout: float | None  # seconds from an attempt's start to its first delta
    total_timeout: float | None  # seconds from an attempt's start to its final response
    sleep: Sleep


async def stream_with_retries(
    attempt: Callable[[], AsyncGenerator[ModelEvent]],
    settings: CallSettings,
) -> AsyncGenerator[ModelEvent]:
    """Run `attempt()` until it yields a final response, retrying per `settings.retry` while
    it has yielded nothing, and enforcing the timeouts. Closing or cancelling this iterator
    closes the attempt's stream (and so its HTTP response) at once."""
    retry = 0
    while True:
        yielded = False
        try:
            async with (
                contextlib.aclosing(attempt()) as events,
                contextlib.aclosing(_timed(events, settings)) as timed,
            ):
                async for event in timed:
                    yielded = True
                    yield event
                    if isinstance(event, ModelResponse):
                        return
            raise ModelError(
                f"{settings.model}: the stream ended without a final response",
                retryable=True,
                model=settings.model,
            )
        except ModelError as error:
            if yielded:
                raise
            retry += 1
            delay = settings.retry.delay(retry, error, random_fraction=random.random())
            if delay is None:
                raise
            await settings.sleep(delay)


async def _timed(
    events: AsyncGenerator[ModelEvent], settings: CallSettings
) -> AsyncGenerator[ModelEvent]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    first_token = settings.first_token_timeout
    total = settings.total_timeout
    if first_token is None and total is None:
        async for event in events:
            yield event
        return
    delta_seen = False
    while True:
        deadlines: list[tuple[float, str]] = []
        if first_token is not None and not delta_seen:
            deadlines.append((started + first_token, f"no first token within {first_token:g}s"))
        if total is not None:
            deadlines.append((started + total, f"no complete answer within {total:g}s"))
        deadline, reason = min(deadlines) if deadlines else (None, "")
        try:
            async with asyncio.timeout_at(deadline):
                event = await anext(events)
        except StopAsyncIteration:
            return
        except TimeoutError as exc:
            raise ModelTimeoutError(f"{settings.model}: {reason}", model=settings.model) from exc
        delta_seen = True
        yield event


def _retry_after(error: ModelError) -> float | None:
    if isinstance(error, ModelRateLimitError | ModelOverloadedError | ModelServerError):
        return error.retry_after
    return None
