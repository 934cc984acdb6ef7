"""SIGKILL while a child thread (a subagent) runs, then a fresh process recovers: the child
restarts its cut-off step, the parent resumes when the child ends, and there is exactly one
child."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from app_process import AppProcess

import threadline as tl
from threadline.testing import check_invariants
from threadline.types import ToolResult

pytestmark = pytest.mark.slow


@pytest.fixture
def tree(store_spec: str, tmp_path: Path) -> AppProcess:
    return AppProcess(Path(__file__).with_name("subagent_app.py"), store_spec, tmp_path)


def kill_while_the_child_runs(tree: AppProcess) -> None:
    process = tree.start("run", env={"WORKER_SECONDS": "60"})
    deadline = time.monotonic() + 30
    while not tree.lines("worker_requests.txt"):
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.kill()
    assert tree.finish(process)[0] == -signal.SIGKILL


async def recover_and_check_one_child(tree: AppProcess) -> None:
    returncode, stderr = tree.finish(tree.start("recover"))
    assert returncode == 0, stderr[-3000:]

    async with tl.open_store(tree.store) as store:  # type: ignore[attr-defined]
        assert await check_invariants(store) == []
        threads = (await store.list_threads(limit=10)).threads
        (parent,) = [t for t in threads if t.parent_id is None]
        (child,) = await store.list_children(parent.thread_id)  # spawned once
        assert len(threads) == 2
        assert child.reference_id == "call_worker"
        (child_turn,) = await store.list_turns(child.thread_id)
        assert child_turn.status == "completed"
        (parent_turn,) = await store.list_turns(parent.thread_id)
        assert parent_turn.status == "completed"
        items = await store.load_items(parent.thread_id)
        (result,) = [i.payload for i in items if isinstance(i.payload, ToolResult)]
        assert (result.output, result.outcome) == ("found it", "success")
        assert items[-1].text == "Done: found it"
    # The child's cut-off model step ran again, in the recovering process.
    first, second = tree.lines("worker_requests.txt")
    assert first != second


async def test_killed_while_the_child_runs_the_tree_finishes_with_one_child(
    tree: AppProcess,
) -> None:
    kill_while_the_child_runs(tree)
    await recover_and_check_one_child(tree)


async def test_a_parent_continued_first_continues_its_child_once_the_childs_owner_is_gone(
    tree: AppProcess,
) -> None:
    """Recovery continues the parent while another owner still holds the child's lease (it
    ran out later than the parent's): the parent, waiting for the child, continues the child
    itself when that lease runs out; nothing else would."""
    kill_while_the_child_runs(tree)
    async with tl.open_store(tree.store) as store:  # type: ignore[attr-defined]
        (child,) = [t for t in (await store.list_threads(limit=10)).threads if t.parent_id]
        assert child.active_turn_id is not None
        deadline = time.monotonic() + 10
        while (
            await store.acquire_lease(
                child.thread_id, child.active_turn_id, owner="gone", lease_seconds=3
            )
            is None
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    await recover_and_check_one_child(tree)
