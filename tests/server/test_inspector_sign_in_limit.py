"""The inspector's key form cannot be used to guess keys: after a few failed sign-ins from
one address, every attempt from it gets 429 for a while, the right key included."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from responses_harness import RunningServer, start_server, stop_server

from threadline.server.inspector._throttle import FailedSignIns

KEY = "sk-inspector-limit-0123456789"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running, handle = start_server(tmp_path / "threadline.db", api_keys=(KEY,))
    yield running
    stop_server(handle)


def _sign_in(browser: httpx.Client, key: str) -> httpx.Response:
    return browser.post(
        "/inspector/sign-in", data={"api_key": key}, headers={"Origin": str(browser.base_url)}
    )


def test_failed_sign_ins_are_limited_per_address(server: RunningServer) -> None:
    with httpx.Client(base_url=server.origin) as browser:
        assert _sign_in(browser, KEY).status_code == 303  # a success counts for nothing
        failures = [_sign_in(browser, f"sk-guess-{n}").status_code for n in range(5)]
        blocked = _sign_in(browser, KEY)

    assert failures == [401] * 5
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 61
    assert "Too many failed sign-ins" in blocked.text
    assert "threadline_session" not in blocked.cookies


def test_failures_leave_the_window_and_addresses_are_counted_apart() -> None:
    now = [1000.0]
    limit = FailedSignIns(limit=2, window=60, clock=lambda: now[0])
    limit.failed("10.0.0.1")
    limit.failed("10.0.0.1")

    assert limit.retry_after("10.0.0.1") == 61
    assert limit.retry_after("10.0.0.2") is None
    now[0] += 30
    assert limit.retry_after("10.0.0.1") == 31
    now[0] += 30.5
    assert limit.retry_after("10.0.0.1") is None
