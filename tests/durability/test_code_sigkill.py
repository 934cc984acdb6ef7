"""SIGKILL around a code step (`run_code`), then a fresh process recovers: code whose result
was stored is not run again (its idempotent tool gets the stored result), and code cut off
while it ran is reported as terminated, not run twice."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from app_process import AppProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def coder(store_spec: str, tmp_path: Path) -> AppProcess:
    return AppProcess(Path(__file__).with_name("code_app.py"), store_spec, tmp_path)


async def _outputs(coder: AppProcess) -> dict[str, str]:
    _, results = await coder.completed_results()
    return {call_id: result.output for call_id, result in results.items()}


async def test_killed_after_the_code_step_its_result_is_kept(coder: AppProcess) -> None:
    returncode, stderr = coder.finish(coder.start("run", "after_nested_tool_result:kill"))
    assert returncode == -signal.SIGKILL, stderr[-2000:]

    returncode, stderr = coder.finish(coder.start("recover"))
    assert returncode == 0, stderr[-3000:]

    outputs = await _outputs(coder)
    assert coder.lines("notes.txt") == ["hello"]  # the code ran once
    assert len(coder.lines("tool_runs.txt")) == 2  # its tool ran again
    assert outputs["call_compute"] == "ok: noted"


async def test_killed_while_the_code_runs_it_is_not_run_again(coder: AppProcess) -> None:
    process = coder.start("run", "", env={"CODE_SECONDS": "60"})
    deadline = time.monotonic() + 30
    while not coder.lines("code_ran"):
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    process.kill()
    assert coder.finish(process)[0] == -signal.SIGKILL

    returncode, stderr = coder.finish(coder.start("recover"))
    assert returncode == 0, stderr[-3000:]

    outputs = await _outputs(coder)
    assert coder.lines("notes.txt") == ["hello"]
    assert outputs["call_compute"].startswith("terminated: the run was cut off")
