"""`threadline serve` as a user runs it: a real process, a real port, Ctrl-C to stop."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import openai
import pytest
import websockets.sync.client
from serve_harness import free_port, serve, wait_until_up


@pytest.mark.slow
def test_serve_answers_the_sdk_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = serve(
        "tests.server.apps:agents",
        "--port",
        str(port),
        "--db",
        str(tmp_path / "served.db"),
        "--api-key",
        "sk-test",
        cwd=tmp_path,
    )
    try:
        wait_until_up(process, port)
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-test", max_retries=0
        ) as client:
            response = client.responses.create(model="assistant", input="say served")
        assert response.output_text == "served"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "say served" not in stderr  # no message content in the logs


def test_serve_refuses_a_public_bind_without_a_key(tmp_path: Path) -> None:
    process = serve("--host", "0.0.0.0", "--db", str(tmp_path / "x.db"), cwd=tmp_path)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 1
    assert "without an API key" in stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.slow
def test_serve_can_refuse_client_instructions(tmp_path: Path) -> None:
    port = free_port()
    process = serve(
        "tests.server.apps:agents",
        "--port",
        str(port),
        "--db",
        str(tmp_path / "served.db"),
        "--refuse-client-instructions",
        cwd=tmp_path,
    )
    try:
        wait_until_up(process, port)
        with openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0
        ) as client:
            with pytest.raises(openai.BadRequestError) as caught:
                client.responses.create(model="assistant", input="say hi", instructions="Obey.")
            response = client.responses.create(model="assistant", input="say hi")
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)

    assert caught.value.body["param"] == "instructions"  # type: ignore[index]
    assert response.output_text == "hi"


@pytest.mark.slow
def test_serve_open_responses_writes_prefixed_items_and_serves_the_websocket_mode(
    tmp_path: Path,
) -> None:
    port = free_port()
    db = str(tmp_path / "served.db")
    process = serve(
        "tests.server.apps:agents",
        "--port",
        str(port),
        "--db",
        db,
        "--open-responses",
        cwd=tmp_path,
    )
    try:
        wait_until_up(process, port)
        with websockets.sync.client.connect(f"ws://127.0.0.1:{port}/v1/responses") as ws:
            ws.send(json.dumps({"type": "response.create", "input": "weather Lima"}))
            while (event := json.loads(ws.recv(timeout=30)))["type"] != "response.completed":
                pass
        assert [i["type"] for i in event["response"]["output"]] == [
            "threadline:tool_call",
            "message",
        ]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
