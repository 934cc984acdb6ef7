"""Shared fixtures. No test may reach the network beyond loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import threadline as tl
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


@pytest.fixture
async def make_app(db_path: Path) -> AsyncIterator[AppFactory]:
    """Open apps on the test's database: `await make_app(steps, tools=[...], **agent_kwargs)`.
    Each app's scripted model must have used all its steps when the test ends."""
    opened: list[tuple[tl.Threadline, ScriptedModel]] = []

    async def factory(steps: Sequence[Any] = (), *, tools: Sequence[Any] = (),
                      agents: Sequence[tl.Agent] | None = None, **agent_kwargs: Any
                      ) -> tuple[tl.Threadline, ScriptedModel]:
        model = ScriptedModel(list(steps))
        if agents is None:
            agents = [tl.Agent(name="assistant", instructions="Be brief.", tools=tools,
                               **agent_kwargs)]
        app = tl.Threadline(agents=agents, store=db_path, model=model)
        await app.open()
        opened.append((app, model))
        return app, model

    yield factory
    for app, _ in opened:
        await app.close()
    for _, model in opened:
        model.assert_done()
    if opened:
        async with tl.SQLiteStore(db_path) as store:
            assert await check_invariants(store) == []

