"""SIGKILL while a tool's nested call (`invoke_tool`) is under way, then a fresh process
recovers: the nested call, which is not idempotent, never runs twice, and its idempotent caller
runs again and gets the nested call's stored result (or learns that its outcome is unknown)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from app_process import AppProcess

from threadline.types import ToolResult

pytestmark = pytest.mark.slow


class Nested(AppProcess):
    def recovered(self) -> None:
        returncode, stderr = self.finish(self.start("recover"))
        assert returncode == 0, stderr[-3000:]

    async def results(self) -> dict[str, ToolResult]:
        return (await self.completed_results())[1]


@pytest.fixture
def nested(store_spec: str, tmp_path: Path) -> Nested:
    return Nested(Path(__file__).with_name("nested_app.py"), store_spec, tmp_path)


async def test_killed_after_the_nested_result_the_caller_gets_it_back(nested: Nested) -> None:
    returncode, stderr = nested.finish(nested.start("run", "after_nested_tool_result:kill"))
    assert returncode == -signal.SIGKILL, stderr[-2000:]
    assert len(nested.lines("lines.txt")) == 1

    nested.recovered()

    results = await nested.results()
    assert [line.split()[0] for line in nested.lines("lines.txt")] == ["hello"]  # once
    (parent_key,) = set(nested.lines("parent_runs.txt"))
    assert nested.lines("parent_runs.txt") == [parent_key, parent_key]  # the caller ran again
    assert nested.lines("lines.txt") == [f"hello {parent_key}/1"]
    assert results["call_record/1"].output == "appended hello"
    assert results["call_record/1"].parent_call_id == "call_record"
    assert results["call_record"].output == "recorded (appended hello)"


async def test_killed_while_the_nested_call_runs_it_is_not_run_again(nested: Nested) -> None:
    process = nested.start("run", "", env={"NESTED_CHILD_SECONDS": "60"})
    deadline = time.monotonic() + 30
    while not (nested.folder / "child_ran").exists():
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    process.kill()
    returncode, _ = nested.finish(process)
    assert returncode == -signal.SIGKILL

    nested.recovered()

    results = await nested.results()
    assert len(nested.lines("lines.txt")) == 1  # not run again
    assert len(nested.lines("parent_runs.txt")) == 2
    assert results["call_record/1"].outcome == "unknown"
    assert results["call_record"].output.startswith(
        "record failed: the outcome of this call is unknown"
    )


async def test_killed_before_the_nested_call_ran_it_is_reported_unknown(nested: Nested) -> None:
    returncode, stderr = nested.finish(nested.start("run", "after_nested_tool_started:kill"))
    assert returncode == -signal.SIGKILL, stderr[-2000:]

    nested.recovered()

    results = await nested.results()
    # Its start was stored first: whether it ran cannot be known, so it is not run again.
    assert nested.lines("lines.txt") == []
    assert results["call_record/1"].outcome == "unknown"
    assert results["call_record"].output.startswith("record failed: the outcome")
