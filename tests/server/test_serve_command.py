"""`threadline serve` as a user runs it: a real process, a real port, Ctrl-C to stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    env.pop("THREADLINE_API_KEYS", None)
    return env


def _serve(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "threadline.cli", "serve", *args],
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_the_sdk_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    process = _serve(
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
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "threadline serve did not come up"
            time.sleep(0.1)
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
    process = _serve("--host", "0.0.0.0", "--db", str(tmp_path / "x.db"), cwd=tmp_path)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 1
    assert "without an API key" in stderr
    assert not (tmp_path / "x.db").exists()
