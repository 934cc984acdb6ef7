from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from codex_apps import agents, model
from codex_harness import Schema, StdioPeer, WebSocketServer, generate_schema


@pytest.fixture(scope="session")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    return generate_schema(tmp_path_factory.mktemp("codex-schema"))


@pytest.fixture
async def stdio(db_path: Path, tmp_path: Path) -> AsyncIterator[StdioPeer]:
    peer = await StdioPeer.start(db_path, tmp_path)
    yield peer
    if peer.process.returncode is None:
        peer.kill()
        await peer.process.wait()


@pytest.fixture
async def ws_server(db_path: Path) -> AsyncIterator[WebSocketServer]:
    server = WebSocketServer(db_path, agents(), model())
    await server.start()
    yield server
    await server.stop()
