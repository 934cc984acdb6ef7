"""The official SDK's `AsyncWebClient`, as the Slack adapter uses it: rate-limited calls (HTTP
429) wait as long as Slack's `Retry-After` says and try again, a bounded number of times.
Imported only once `slack-sdk` is known to be installed."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

logger = logging.getLogger("threadline.bots")


class RateLimitRetry(AsyncRetryHandler):
    """Retries a call Slack answered with 429, after its `Retry-After` seconds, at most
    `max_retries` times; a wait longer than `max_wait` is not waited for (the call fails with
    the SDK's `SlackApiError`, error `ratelimited`)."""

    def __init__(self, max_retries: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retries)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and retry_after(response) <= self.max_wait
        )

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = retry_after(response) if response is not None else 1.0
        logger.info("Slack rate-limited a call; trying again in %.0f s", wait)
        state.next_attempt_requested = True
        await asyncio.sleep(wait)
        state.increment_current_attempt()


def retry_after(response: HttpResponse) -> float:
    """The seconds a 429 response asks to wait (1 when it does not say)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


def web_client(
    token: str, *, base_url: str, timeout: float, max_retries: int, max_retry_wait: float
) -> AsyncWebClient:
    sdk_logger = logging.getLogger("threadline.bots.slack_sdk")
    if sdk_logger.level == logging.NOTSET:
        # The SDK logs every request's parameters (message text included) when its logger's
        # own level is unset: content stays out of logs unless someone asks for it.
        sdk_logger.setLevel(logging.INFO)
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=max(1, round(timeout)),
        logger=sdk_logger,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(),
            RateLimitRetry(max_retries, max_retry_wait),
        ],
    )
