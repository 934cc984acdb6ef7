"""A client that never reads its stream while thousands of events flow: the turn finishes as
fast as without it, the server keeps answering, and the stalled stream is dropped."""

from __future__ import annotations

import json
import socket
import time

import httpx
import openai
from responses_harness import RunningServer

WORDS = 30_000


def _stalled_request(server: RunningServer, conversation_id: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    body = json.dumps(
        {
            "model": "assistant",
            "conversation": conversation_id,
            "input": f"words {WORDS}",
            "stream": True,
        }
    ).encode()
    sock.sendall(
        b"POST /v1/responses HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{server.port}\r\n".encode()
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def _wait_for_answer(client: openai.OpenAI, conversation_id: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        items = client.conversations.items.list(conversation_id, limit=1).data
        if items and getattr(items[0], "role", None) == "assistant":
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("the turn did not finish while its client stalled")


def test_a_stalled_reader_neither_slows_the_turn_nor_the_server(
    client: openai.OpenAI, server: RunningServer
) -> None:
    conversation = client.conversations.create()
    sock = _stalled_request(server, conversation.id)
    try:
        elapsed = _wait_for_answer(client, conversation.id, timeout=20)
        assert elapsed < 10

        other = client.responses.create(model="assistant", input="say still answering")
        assert other.output_text == "still answering"
        [message] = client.conversations.items.list(conversation.id, limit=1).data
        assert len(message.content[0].text.split()) == WORDS  # type: ignore[union-attr]

        # The stream was cut short: what arrives ends without `[DONE]`, then the server
        # closes the connection.
        sock.settimeout(10)
        received = bytearray()
        while chunk := sock.recv(65536):
            received.extend(chunk)
        assert b"data: [DONE]" not in received
        assert b"response.created" in received
    finally:
        sock.close()
    assert httpx.get(f"{server.origin}/openapi.json").status_code == 200
