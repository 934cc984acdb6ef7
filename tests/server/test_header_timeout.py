"""Slowloris: connections that never finish their request line and headers are closed after
the header timeout, while the server keeps answering everyone else."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from responses_harness import RunningServer, start_server, stop_server

from threadline import ConfigurationError
from threadline.server import ServerConfig

HEADER_TIMEOUT = 0.5
DEADLINE = HEADER_TIMEOUT + 5.0  # generous for a loaded machine; a stuck socket never closes


@pytest.fixture(scope="module")
def timed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running, handle = start_server(
        tmp_path_factory.mktemp("slowloris") / "threadline.db",
        header_timeout_seconds=HEADER_TIMEOUT,
    )
    yield running
    stop_server(handle)


def _open(server: RunningServer, first_bytes: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _closed_within(sock: socket.socket, deadline: float) -> bool:
    """Whether the server closes `sock` before `deadline` (a monotonic time)."""
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            if sock.recv(4096) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
    return False


def test_connections_that_never_finish_their_headers_are_closed(
    timed_server: RunningServer,
) -> None:
    host = f"Host: 127.0.0.1:{timed_server.port}\r\n".encode()
    partial = [
        b"",  # connects and says nothing
        b"GE",
        b"GET /openapi.json HTTP/1.1\r\n",
        b"GET /openapi.json HTTP/1.1\r\n" + host,
        b"POST /v1/conversations HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n",
    ]
    sockets = [_open(timed_server, data) for data in partial for _ in range(20)]
    opened = time.monotonic()
    try:
        # The server still answers while they hang.
        assert httpx.get(f"{timed_server.origin}/openapi.json").status_code == 200

        closed = [_closed_within(sock, opened + DEADLINE) for sock in sockets]
        assert all(closed), f"{closed.count(False)} of {len(sockets)} connections left open"
    finally:
        for sock in sockets:
            sock.close()


def test_trickling_bytes_does_not_extend_the_deadline(timed_server: RunningServer) -> None:
    sock = _open(timed_server, b"G")
    opened = time.monotonic()
    try:
        for byte in b"ET /openapi.json HTTP/1.1\r\n":
            try:
                sock.sendall(bytes([byte]))
            except (ConnectionResetError, BrokenPipeError):
                break
            if _closed_within(sock, time.monotonic() + HEADER_TIMEOUT / 5):
                break
        assert _closed_within(sock, opened + DEADLINE)
    finally:
        sock.close()


def test_a_kept_alive_connection_serves_requests_and_then_closes(
    timed_server: RunningServer,
) -> None:
    with httpx.Client() as client:
        for _ in range(3):
            assert client.get(f"{timed_server.origin}/openapi.json").status_code == 200

    sock = _open(timed_server, b"")
    try:
        request = (
            b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1:"
            + str(timed_server.port).encode()
            + b"\r\n\r\n"
        )
        sock.sendall(request)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /openapi.json HTTP/1.1\r\n")  # the next request stalls
        assert _closed_within(sock, time.monotonic() + DEADLINE)
    finally:
        sock.close()


def test_the_header_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        ServerConfig(header_timeout_seconds=0)
