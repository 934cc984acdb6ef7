"""What `threadline serve --log-level debug` writes holds no credential and no content: not the
bearer key, not the text of a message over HTTP or WebSocket, not the message of an exception
a model raised. `--log-content` opts into all of it."""

from __future__ import annotations

import json
import logging
import signal
from pathlib import Path

import httpx
import pytest
from responses_harness import RunningServer
from serve_harness import free_port, serve, wait_until_up
from websockets.sync.client import connect

KEY = "sk-logtest-c0ffee-4242"
HTTP_TEXT = "pelican-over-http"
WS_TEXT = "heron-over-websocket"
SECRET = "password=hunter2-in-an-exception"


def _served_logs(tmp_path: Path, *options: str) -> str:
    """Everything `threadline serve` printed while it answered an HTTP request, a WebSocket
    turn and a turn whose model raised."""
    port = free_port()
    process = serve(
        "tests.server.apps:agents",
        "--port",
        str(port),
        "--db",
        str(tmp_path / "logs.db"),
        "--api-key",
        KEY,
        "--log-level",
        "debug",
        *options,
        cwd=tmp_path,
    )
    try:
        wait_until_up(process, port)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}/v1",
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        ) as http:
            said = http.post("/responses", json={"model": "assistant", "input": f"say {HTTP_TEXT}"})
            assert said.json()["output"][0]["content"][0]["text"] == HTTP_TEXT
            crashed = http.post(
                "/responses", json={"model": "assistant", "input": f"crash {SECRET}"}
            )
            assert crashed.json()["status"] == "failed"
            assert SECRET not in crashed.text
        _websocket_turn(port)
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    return stdout + stderr


def _websocket_turn(port: int) -> None:
    with connect(
        f"ws://127.0.0.1:{port}/codex", additional_headers={"Authorization": f"Bearer {KEY}"}
    ) as websocket:

        def request(request_id: int, method: str, params: dict[str, object]) -> dict[str, object]:
            websocket.send(json.dumps({"id": request_id, "method": method, "params": params}))
            while True:
                message = json.loads(websocket.recv(timeout=30))
                if message.get("id") == request_id and "method" not in message:
                    return message

        request(1, "initialize", {"clientInfo": {"name": "test", "version": "1"}})
        websocket.send(json.dumps({"method": "initialized"}))
        started = request(2, "thread/start", {})
        thread_id = started["result"]["thread"]["id"]  # type: ignore[index]
        text = [{"type": "text", "text": f"say {WS_TEXT}"}]
        request(3, "turn/start", {"threadId": thread_id, "input": text})
        while json.loads(websocket.recv(timeout=30)).get("method") != "turn/completed":
            pass


@pytest.mark.slow
def test_debug_logs_hold_no_credential_and_no_content(tmp_path: Path) -> None:
    logs = _served_logs(tmp_path)

    assert KEY not in logs
    assert HTTP_TEXT not in logs
    assert WS_TEXT not in logs
    assert SECRET not in logs
    assert "Traceback" not in logs
    assert "RuntimeError" in logs  # the failure is logged, by its type
    assert '"POST /v1/responses HTTP/1.1" 200' in logs  # requests are logged, by path


@pytest.mark.slow
def test_log_content_opts_into_messages_and_tracebacks(tmp_path: Path) -> None:
    logs = _served_logs(tmp_path, "--log-content")

    assert SECRET in logs
    assert "Traceback" in logs
    assert WS_TEXT in logs  # the WebSocket frames


def test_a_model_exception_is_logged_by_type_only_by_default(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    crashed = httpx.post(
        f"{server.base_url}/responses", json={"model": "assistant", "input": f"crash {SECRET}"}
    )

    assert crashed.json()["status"] == "failed"
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    turn_id = "turn_" + crashed.json()["id"].split("_")[1]
    assert [r.getMessage() for r in failures] == [
        f"turn {turn_id} failed unexpectedly: RuntimeError"
    ]
    assert SECRET not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)
