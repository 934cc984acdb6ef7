"""The servers the tests talk to, started once per session, and clients pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from recorded_harness import RecordedServer, recorded_server
from responses_harness import API_KEYS, RunningServer, start_server, stop_server

from store_backends import BACKENDS


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running, handle = start_server(
        tmp_path_factory.mktemp("server") / "threadline.db",
        sse_buffer=200,
        keepalive_seconds=0.5,
        write_timeout_seconds=3.0,
    )
    yield running
    stop_server(handle)


@pytest.fixture(scope="session")
def open_responses_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server that writes the Open Responses dialect (`ServerConfig(open_responses=True)`)."""
    running, handle = start_server(
        tmp_path_factory.mktemp("open-responses") / "threadline.db", open_responses=True
    )
    yield running
    stop_server(handle)


@pytest.fixture(scope="session")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running, handle = start_server(
        tmp_path_factory.mktemp("keyed") / "threadline.db", api_keys=API_KEYS
    )
    yield running
    stop_server(handle)


@pytest.fixture
def client(server: RunningServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def async_client(server: RunningServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


@pytest.fixture(scope="module", params=BACKENDS)
def recorded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RecordedServer]:
    """A server whose model records its requests, one per test module and store."""
    with recorded_server(request.param, tmp_path_factory.mktemp(request.param)) as served:
        yield served


@pytest.fixture
def recorded_client(recorded: RecordedServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=recorded.server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def recorded_async_client(recorded: RecordedServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=recorded.server.base_url, api_key="unused", max_retries=0, timeout=30
    ) as client:
        yield client
