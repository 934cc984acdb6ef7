from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The app-server test harness and its deterministic agents live with the server's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server" / "codex"))

from codex_apps import agents, model
from codex_harness import WebSocketServer

import threadline as tl
from threadline.client import RemoteThreadline, connect


@pytest.fixture
async def server(db_path: Path) -> AsyncIterator[WebSocketServer]:
    running = WebSocketServer(db_path, agents(), model())
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def remote(server: WebSocketServer) -> AsyncIterator[RemoteThreadline]:
    async with connect(server.url) as app:
        yield app


@pytest.fixture
def local(server: WebSocketServer) -> tl.Threadline:
    """The app the server serves, in this process: what the remote client must match."""
    assert server.app is not None
    return server.app
