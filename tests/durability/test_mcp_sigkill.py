"""SIGKILL while an MCP tool call is under way, then a fresh process recovers: the call was
stored as started before it was sent, so a tool that is not idempotent is reported as unknown
and never sent again; one the app declares idempotent is sent again with the same key."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_process import AppProcess

from threadline.types import ToolResult

pytestmark = pytest.mark.slow


class McpApp(AppProcess):
    async def killed_mid_call(self, env: dict[str, str]) -> None:
        process = self.start("run", env=env)
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread((self.folder / "started").exists):
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        process.kill()
        returncode, _ = self.finish(process)
        assert returncode == -signal.SIGKILL

    def recovered(self, env: dict[str, str]) -> None:
        returncode, stderr = self.finish(self.start("recover", env=env))
        assert returncode == 0, stderr[-3000:]

    async def result(self) -> tuple[str, ToolResult]:
        turn_id, results = await self.completed_results()
        (result,) = results.values()
        return turn_id, result


@pytest.fixture
def app(tmp_path: Path) -> Iterator[McpApp]:
    folder = tmp_path / "work"
    folder.mkdir()
    yield McpApp(Path(__file__).with_name("mcp_app.py"), str(tmp_path / "app.db"), folder)
    # The server the killed app had started lives on in a session of its own.
    for pid in (folder / "pids.txt").read_text().split() if (folder / "pids.txt").exists() else []:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


async def test_a_call_cut_off_by_a_crash_is_not_sent_again(app: McpApp) -> None:
    await app.killed_mid_call({})
    app.recovered({})

    turn_id, result = await app.result()
    assert app.lines("calls.txt") == [f"slow {turn_id}:call_append"]  # sent once, never again
    assert result.outcome == "unknown"
    assert "may or may not have taken effect" in result.output


async def test_a_call_declared_idempotent_is_sent_again_with_the_same_key(app: McpApp) -> None:
    env = {"MCP_IDEMPOTENT": "1"}
    await app.killed_mid_call(env)
    app.recovered(env)

    turn_id, result = await app.result()
    key = f"{turn_id}:call_append"
    assert app.lines("calls.txt") == [f"slow {key}", f"slow {key}"]
    assert app.lines("ledger.txt") == [f"slow {key}"]
    assert result.outcome == "success" and result.output == "appended slow"
