"""How `threadline serve` runs uvicorn: connections that are slow to say what they want are
closed, and the logs hold neither credentials nor content unless the operator asks."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from ._config import ServerConfig
from ._log_config import log_config


def uvicorn_config(
    app: ASGIApp, config: ServerConfig, *, log_level: str = "info", **options: Any
) -> uvicorn.Config:
    """The uvicorn configuration serving `app` (from `create_app`) as `config` says: its
    address, the header and keep-alive timeouts, and logging at `log_level`. `options` go
    to `uvicorn.Config` and win (`log_config=None` leaves the process's logging alone).

        server = uvicorn.Server(uvicorn_config(create_app(app, config), config))
        server.run()
    """
    settings: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "http": _timed_h11(config.header_timeout_seconds),
        "timeout_keep_alive": config.idle_timeout_seconds,
        "log_config": log_config(log_level, log_content=config.log_content),
        "log_level": None,  # the levels are the log configuration's; uvicorn's would undo them
        "server_header": False,
    }
    return uvicorn.Config(app, **{**settings, **options})


def _timed_h11(seconds: float) -> type[H11Protocol]:
    class Protocol(HeaderTimeoutProtocol):
        header_timeout = seconds

    return Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request head (request line and
    headers) has not fully arrived `header_timeout` seconds after its first byte, or after
    the connection opened. uvicorn has no such limit: a client that sends a request line
    and then nothing holds its connection forever (slowloris)."""

    header_timeout = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._watch_head()
        else:
            self._unwatch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._unwatch_head()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        # The deadline runs from the first byte, not the last: a byte a second must not
        # keep a connection alive.
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _unwatch_head(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _head_timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()
