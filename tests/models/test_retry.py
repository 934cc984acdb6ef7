"""The retry policy, and the shared retry and timeout layer around one streamed call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import TYPE_CHECKING

import pytest

from threadline.models import (
    ModelEvent,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelResponse,
    ModelTimeoutError,
    RetryPolicy,
    TextDelta,
)
from threadline.models._retry import CallSettings, stream_with_retries
from threadline.types import ModelError

if TYPE_CHECKING:
    from conftest import FakeSleep

Step = ModelEvent | ModelError | float  # a float: wait that many seconds


class Attempts:
    """Scripted attempts: each is a list of events to yield, errors to raise and delays."""

    def __init__(self, *scripts: Sequence[Step]) -> None:
        self.scripts = list(scripts)
        self.started = 0
        self.closed = 0

    async def __call__(self) -> AsyncGenerator[ModelEvent]:
        script = self.scripts[self.started]
        self.started += 1
        try:
            for step in script:
                if isinstance(step, ModelError):
                    raise step
                if isinstance(step, float):
                    await asyncio.sleep(step)
                    continue
                yield step
        finally:
            self.closed += 1


def _settings(
    sleep: FakeSleep,
    *,
    retry: RetryPolicy | None = None,
    first_token_timeout: float | None = None,
    total_timeout: float | None = None,
) -> CallSettings:
    return CallSettings(
        model="m",
        retry=retry or RetryPolicy(jitter=0.0),
        sleep=sleep,
        first_token_timeout=first_token_timeout,
        total_timeout=total_timeout,
    )


async def _run(attempts: Attempts, settings: CallSettings) -> list[ModelEvent]:
    return [event async for event in stream_with_retries(attempts, settings)]


DONE = ModelResponse(text="hi")


def test_backoff_grows_by_the_multiplier_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=3.0, max_delay=10.0, jitter=0.0)

    assert [policy.backoff(n, random_fraction=0.5) for n in (1, 2, 3, 4)] == [1, 3, 9, 10]


@pytest.mark.parametrize(("fraction", "delay"), [(0.0, 0.75), (0.5, 1.0), (0.999, 1.2495)])
def test_jitter_moves_the_delay_by_at_most_its_fraction(fraction: float, delay: float) -> None:
    policy = RetryPolicy(initial_delay=1.0, jitter=0.25)

    assert policy.backoff(1, random_fraction=fraction) == pytest.approx(delay)


def test_retry_after_is_honoured_and_too_long_a_wait_is_not_taken() -> None:
    policy = RetryPolicy(max_retry_after=30.0)

    assert (
        policy.delay(1, ModelRateLimitError("slow down", retry_after=12.5), random_fraction=0.0)
        == 12.5
    )
    assert (
        policy.delay(1, ModelRateLimitError("slow down", retry_after=31), random_fraction=0.0)
        is None
    )


def test_errors_that_are_not_retryable_and_spent_attempts_end_the_retries() -> None:
    policy = RetryPolicy(max_attempts=3)

    assert policy.delay(1, ModelError("bad request"), random_fraction=0.5) is None
    assert policy.delay(2, ModelError("flaky", retryable=True), random_fraction=0.5) is not None
    assert policy.delay(3, ModelError("flaky", retryable=True), random_fraction=0.5) is None


async def test_a_failure_before_the_first_delta_is_retried(fake_sleep: FakeSleep) -> None:
    attempts = Attempts(
        [ModelOverloadedError("busy")],
        [ModelOverloadedError("busy")],
        [TextDelta(delta="hi"), DONE],
    )

    events = await _run(attempts, _settings(fake_sleep))

    assert events == [TextDelta(delta="hi"), DONE]
    assert fake_sleep.waits == [0.5, 1.0]
    assert attempts.closed == 3


async def test_the_last_error_goes_up_when_the_attempts_are_spent(fake_sleep: FakeSleep) -> None:
    attempts = Attempts(*[[ModelOverloadedError(f"busy {n}")] for n in range(3)])

    with pytest.raises(ModelOverloadedError, match="busy 2"):
        await _run(attempts, _settings(fake_sleep))

    assert attempts.started == 3


async def test_a_failure_after_a_delta_goes_up_at_once(fake_sleep: FakeSleep) -> None:
    attempts = Attempts([TextDelta(delta="Hel"), ModelOverloadedError("busy")], [DONE])
    seen: list[ModelEvent] = []

    with pytest.raises(ModelOverloadedError):
        async for event in stream_with_retries(attempts, _settings(fake_sleep)):
            seen.append(event)

    assert seen == [TextDelta(delta="Hel")]
    assert (attempts.started, fake_sleep.waits) == (1, [])


async def test_a_stream_that_ends_without_a_response_is_a_retryable_error(
    fake_sleep: FakeSleep,
) -> None:
    attempts = Attempts([TextDelta(delta="Hel")])

    with pytest.raises(ModelError, match="without a final response") as raised:
        await _run(attempts, _settings(fake_sleep))

    assert raised.value.retryable is True


async def test_no_first_delta_in_time_is_retried_as_a_timeout(fake_sleep: FakeSleep) -> None:
    attempts = Attempts([5.0, DONE], [DONE])

    events = await _run(attempts, _settings(fake_sleep, first_token_timeout=0.05))

    assert events == [DONE]
    assert attempts.started == 2
    assert attempts.closed == 2  # the stalled attempt was closed, not left behind


async def test_the_total_timeout_ends_a_stalled_stream_after_deltas(fake_sleep: FakeSleep) -> None:
    attempts = Attempts([TextDelta(delta="Hel"), 5.0, DONE])
    seen: list[ModelEvent] = []

    with pytest.raises(ModelTimeoutError, match=r"no complete answer within 0\.05s") as raised:
        async for event in stream_with_retries(
            attempts, _settings(fake_sleep, first_token_timeout=1.0, total_timeout=0.05)
        ):
            seen.append(event)

    assert raised.value.retryable is True
    assert seen == [TextDelta(delta="Hel")]
    assert attempts.closed == 1


async def test_closing_the_stream_closes_the_attempt(fake_sleep: FakeSleep) -> None:
    attempts = Attempts([TextDelta(delta="Hel"), TextDelta(delta="lo"), DONE])
    stream = stream_with_retries(attempts, _settings(fake_sleep, total_timeout=5.0))

    assert await anext(stream) == TextDelta(delta="Hel")
    await stream.aclose()

    assert attempts.closed == 1
