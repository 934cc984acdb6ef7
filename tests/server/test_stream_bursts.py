"""Events that are ready together are written together: a streamed answer goes out in a few
writes, not one per event, and loses nothing on the way."""

from __future__ import annotations

import json
import socket

from responses_harness import RunningServer

WORDS = 100


def _chunks(sock: socket.socket) -> list[bytes]:
    """The HTTP chunks of a chunked response, its head skipped."""
    received = bytearray()
    while not received.endswith(b"\r\n0\r\n\r\n"):
        data = sock.recv(65536)
        assert data, "the server closed the connection mid-stream"
        received += data
    body = bytes(received.partition(b"\r\n\r\n")[2])
    chunks: list[bytes] = []
    while body:
        size, _, rest = body.partition(b"\r\n")
        length = int(size, 16)
        if length:
            chunks.append(rest[:length])
        body = rest[length + 2 :]
    return chunks


def test_a_burst_of_events_goes_out_in_one_write(server: RunningServer) -> None:
    body = json.dumps({"model": "assistant", "input": f"words {WORDS}", "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/responses HTTP/1.1\r\n"
            + f"Host: 127.0.0.1:{server.port}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        chunks = _chunks(sock)

    events = [e for e in b"".join(chunks).decode().split("\n\n") if e]
    deltas = [e for e in events if e.startswith("event: response.output_text.delta\n")]
    assert len(deltas) == WORDS
    numbers = [json.loads(e.partition("\ndata: ")[2])["sequence_number"] for e in events[:-1]]
    assert numbers == list(range(len(numbers)))
    assert events[-2].startswith("event: response.completed\n")
    assert events[-1] == "data: [DONE]"
    assert len(chunks) <= 5
