"""A real uvicorn server on 127.0.0.1 in a thread of the test process, serving `apps`."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from apps import agents

import threadline as tl
from threadline.server import ServerConfig, create_app, uvicorn_config

API_KEYS = ("sk-alpha-0123456789", "sk-beta-9876543210")


@dataclass
class RunningServer:
    port: int
    db: Path
    config: ServerConfig

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class _Handle:
    server: uvicorn.Server
    thread: threading.Thread


def start_server(
    db: Path,
    *,
    api_keys: Sequence[str] = (),
    workers: int | None = None,
    store: tl.Store | None = None,
    app_agents: Sequence[tl.Agent] | None = None,
    sock: socket.socket | None = None,
    **limits: Any,
) -> tuple[RunningServer, _Handle]:
    """A server on `db` (or on `store`, a store of `db` that a test watches), serving
    `app_agents` (default: the agents of `apps`), listening on `sock` (default: a free port
    of 127.0.0.1); `limits` are more settings of its `ServerConfig`."""
    sock = sock or listening_socket()
    port = sock.getsockname()[1]
    config = ServerConfig(
        host="127.0.0.1",
        port=port,
        api_keys=tuple(api_keys),
        recovery_interval=1.0,
        workers=workers,
        **limits,
    )
    app = tl.Threadline(
        agents=agents() if app_agents is None else app_agents,
        store=db if store is None else store,
        recovery_interval=config.recovery_interval,
        run_turns=workers != 0,
    )
    server = uvicorn.Server(
        uvicorn_config(
            create_app(app, config),
            config,
            log_config=None,  # the test process's logging stays pytest's
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return RunningServer(port=port, db=db, config=config), _Handle(server, thread)


def listening_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1, for `start_server`. Its protocol is named
    so that asyncio turns Nagle's algorithm off on the connections it accepts (as it does on
    a server's own sockets): otherwise each small response waits for a delayed ACK (~40 ms)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def stop_server(handle: _Handle) -> None:
    handle.server.should_exit = True
    handle.thread.join(timeout=15)
    assert not handle.thread.is_alive(), "the test server did not stop"
