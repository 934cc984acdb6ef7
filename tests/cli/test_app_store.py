"""A `Threadline` app named on the command line brings its own store: `worker` and `serve`
run on it, not on ./threadline.db; a --db that names another store is refused."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_process import SCRIPTED, CliProcess, assert_one_error_line, cli_env

import threadline as tl

APP = "tests.cli.store_app:app"


def _start(cli: CliProcess, app_db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "threadline.cli", *args],
        cwd=cli.folder,
        env={**cli_env(), "STORE_APP_DB": str(app_db)},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def _stop(process: subprocess.Popen[str], signum: int) -> str:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return stderr


async def test_the_worker_runs_queued_work_on_the_apps_own_store(cli: CliProcess) -> None:
    app_db = cli.folder / "app.db"
    worker = _start(cli, app_db, "worker", APP)
    try:
        api = tl.Threadline(agents=[tl.Agent(name="assistant")], store=app_db, run_turns=False)
        async with api:
            thread = await api.threads.start()
            result = await asyncio.wait_for(thread.run("hello"), 30)
    finally:
        stderr = _stop(worker, signal.SIGTERM)

    assert result.text == "You said: hello (message 1)"
    assert f"worker on SQLiteStore({str(app_db)!r})" in stderr
    assert not (cli.folder / "threadline.db").exists()


def test_a_db_that_names_another_store_than_the_apps_is_refused(cli: CliProcess) -> None:
    app_db = cli.folder / "app.db"
    env = {"STORE_APP_DB": str(app_db)}

    refused = cli.bare("worker", APP, "--db", "other.db", env=env)
    refused_by_env = cli.bare("--app", APP, "run", "hi", env={**env, "THREADLINE_DB": "x.db"})
    same = cli.bare("--app", APP, "run", "--db", str(app_db), "hi", env=env)

    assert_one_error_line(refused, "keeps its threads in", "--db")
    assert_one_error_line(refused_by_env, "THREADLINE_DB")
    assert same.returncode == 0, same.stderr
    assert same.stdout == "You said: hi (message 1)\n"
    assert sorted(p.name for p in cli.folder.iterdir()) == ["app.db"]


@pytest.mark.slow
async def test_serve_keeps_threads_in_the_apps_own_store(cli: CliProcess) -> None:
    app_db = cli.folder / "app.db"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = _start(cli, app_db, "serve", APP, "--port", str(port))
    try:
        deadline = time.monotonic() + 20
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while True:
                try:
                    if (await client.get("/openapi.json")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "threadline serve did not come up"
                await asyncio.sleep(0.1)
            response = await client.post(
                "/v1/responses", json={"model": "assistant", "input": "hello"}
            )
    finally:
        _stop(server, signal.SIGINT)

    assert response.status_code == 200, response.text
    async with tl.SQLiteStore(app_db) as store:
        assert len((await store.list_threads()).threads) == 1
    assert not (cli.folder / "threadline.db").exists()


def test_run_on_an_in_memory_database_keeps_nothing(cli: CliProcess) -> None:
    ran = cli.bare("run", "--db", ":memory:", "--model", SCRIPTED, "What time is it?")

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("The get_time tool says: ")
    assert list(cli.folder.iterdir()) == []


def test_an_apps_own_model_runs_its_agents_unless_model_is_given(cli: CliProcess) -> None:
    app_db = cli.folder / "app.db"
    env = {"STORE_APP_DB": str(app_db)}

    own = cli.bare("--app", "tests.cli.store_app:model_app", "run", "hello", env=env)
    assert own.returncode == 0, own.stderr
    assert own.stdout.strip() == "You said: hello (message 1)"

    given = cli.bare(
        "--app",
        "tests.cli.store_app:model_app",
        "run",
        "--model",
        "local:/nowhere.gguf",
        "hi",
        env=env,
    )
    assert given.returncode != 0
    assert_one_error_line(given, "local model file not found")
