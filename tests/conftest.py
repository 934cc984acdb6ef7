"""Shared fixtures. No test may reach the network beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
from store_backends import BACKENDS, drop_schema, postgres_url
from threadline.testing import ScriptedModel, check_invariants

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConnectionRefusedError(f"tests may only connect to loopback, not {host}")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "threadline.db"


@pytest.fixture
def weather_tool() -> tl.Tool:
    @tl.tool
    async def get_weather(city: str) -> dict[str, Any]:
        """Current weather for a city."""
        return {"city": city, "temp_c": 18}

    return get_weather


AppFactory = Callable[..., Any]


StoreFactory = Callable[[], tl.Store]


@pytest.fixture(params=BACKENDS)
async def make_store(request: pytest.FixtureRequest, db_path: Path) -> AsyncIterator[StoreFactory]:
    """New store objects on the test's own database: a SQLite file, or a PostgreSQL schema
    (dropped afterwards). Every runtime test runs on both."""
    if request.param == "sqlite":
        yield lambda: tl.SQLiteStore(db_path)
        return
    from threadline.store import PostgresStore

    url = postgres_url()
    schema = f"tl_test_{uuid.uuid4().hex[:16]}"
    yield lambda: PostgresStore(url, schema=schema)
    await drop_schema(url, schema)


@pytest.fixture
async def make_app(make_store: StoreFactory) -> AsyncIterator[AppFactory]:
    """Open apps on the test's store: `await make_app(steps, tools=[...], **agent_kwargs)`.
    Each app's scripted model must have used all its steps when the test ends, and the
    store's invariants must hold."""
    opened: list[tuple[tl.Threadline, ScriptedModel]] = []

    async def factory(
        steps: Sequence[Any] = (),
        *,
        tools: Sequence[Any] = (),
        agents: Sequence[tl.Agent] | None = None,
        **agent_kwargs: Any,
    ) -> tuple[tl.Threadline, ScriptedModel]:
        model = ScriptedModel(list(steps))
        if agents is None:
            agents = [
                tl.Agent(name="assistant", instructions="Be brief.", tools=tools, **agent_kwargs)
            ]
        app = tl.Threadline(agents=agents, store=make_store(), model=model)
        await app.open()
        opened.append((app, model))
        return app, model

    yield factory
    for app, _ in opened:
        await app.close()
    for _, model in opened:
        model.assert_done()
    if opened:
        async with make_store() as store:  # type: ignore[attr-defined]
            assert await check_invariants(store) == []
