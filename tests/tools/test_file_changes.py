"""`FileChanges`, a tool call's staged file changes: what a tool, and a tool it invokes with the
same changes, sees, and what is handed to the store with the call's result."""

from __future__ import annotations

import time
from typing import Any

import pytest

import threadline as tl
from threadline.tools import FileChanges, StoredFiles
from threadline.types import ThreadRecord, new_id


class _Lent:
    """What the runtime lends a `ThreadState` for files: one call's changes."""

    def __init__(self, files: FileChanges) -> None:
        self.files = files


def state(files: FileChanges, call: str) -> tl.ThreadState[Any]:
    return tl.ThreadState[Any](
        thread_id=files.stored.thread_id,
        turn_id="turn_x",
        tool_call_id=call,
        user_id=None,
        items=[],
        state={},
        state_type=None,
        services=_Lent(files),  # type: ignore[arg-type]
    )


async def test_a_tool_and_the_tool_it_invokes_share_one_set_of_changes(make_store: Any) -> None:
    async with make_store() as store:
        now = time.time()
        thread = await store.create_thread(
            ThreadRecord(thread_id=new_id("thr"), agent="a", created_at=now, updated_at=now)
        )
        settled: list[bool] = []

        async def settle() -> None:
            settled.append(True)

        changes = FileChanges(StoredFiles(store, thread.thread_id, 1000), settle=settle)
        outer, inner = state(changes, "call_outer"), state(changes, "call_inner")

        await outer.write_file("plan.md", "1. draft\n")
        await inner.append_file("plan.md", "2. review\n")
        await inner.write_file("notes/inner.txt", "from the invoked tool")

        assert await outer.read_file("plan.md") == b"1. draft\n2. review\n"
        assert [f.path for f in await outer.find_files("**")] == ["notes/inner.txt", "plan.md"]
        assert settled == [True]  # the turn's earlier writes were waited for, once
        assert await store.list_files(thread.thread_id) == []  # nothing stored yet
        with pytest.raises(tl.FileQuotaExceededError):
            await inner.write_file("big.bin", b"x" * 1000)

        pending = changes.pending()
        assert [(c.kind, c.path) for c in pending] == [
            ("write", "plan.md"),
            ("append", "plan.md"),
            ("write", "notes/inner.txt"),
        ]
        await store.change_files(thread.thread_id, pending, quota_bytes=None)
        changes.mark_stored()

        assert changes.pending() == []
        assert await outer.read_file("plan.md") == b"1. draft\n2. review\n"
        assert (await outer.stat_file("plan.md")).file_id == pending[0].file_id
