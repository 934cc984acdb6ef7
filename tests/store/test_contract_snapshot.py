"""A thread exported from a store and imported again (here, or into another store) is the same
thread: its record, turns, items, event log, tool-call states, files and environment; a paused
turn continues from it. Run on every backend."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from cryptography.fernet import Fernet
from test_contract_family import spawn

import threadline as tl
from threadline.store import SQLiteStore, Store, ThreadSnapshot
from threadline.testing import ScriptedModel, tool_call
from threadline.types import (
    InvalidInputError,
    NotFoundError,
    Observation,
    TurnInProgressError,
    new_id,
)

KEY = Fernet.generate_key().decode()


@tl.tool(needs_approval=True)
async def transfer(to: str, amount: int) -> str:
    """Send money."""
    return f"sent {amount} to {to}"


def app_on(store: Store, *steps: Any) -> tl.Threadline:
    model = ScriptedModel(
        ["Hello.", tool_call("transfer", {"to": "ann", "amount": 5}, tool_call_id="c1"), *steps]
    )
    agent = tl.Agent(name="payer", model=model, tools=[transfer])
    return tl.Threadline(agents=[agent], store=store, secret_key=KEY)


async def stored(store: Store, thread_id: str) -> dict[str, Any]:
    """Everything a reader sees of the thread."""
    record = await store.get_thread(thread_id)
    turns = await store.list_turns(thread_id)
    return {
        "thread": record,
        "turns": turns,
        "items": await store.load_items(thread_id),
        "events": await store.load_events(thread_id),
        "tool_states": await store.load_tool_states(thread_id, turns[-1].turn_id),
        "files": [
            (info.path, info.file_id, info.size, data)
            for info in await store.list_files(thread_id)
            if (found := await store.read_file(thread_id, info.path)) is not None
            for data in [found[1]]
        ],
        "env": await store.get_env("TOKEN", [("thread", thread_id)]),
        "steps": [await store.list_steps(thread_id, t.turn_id) for t in turns],
        "spans": [await store.list_spans(thread_id, t.turn_id) for t in turns],
        "memory": await store.thread_memory(thread_id),
        "observations": await store.list_observations("thread", thread_id),
    }


async def paused_thread(app: tl.Threadline) -> tl.Thread:
    thread = await app.threads.start(user_id="ann", metadata={"topic": "money"})
    await thread.write_file("notes/a.bin", bytes(range(256)) * 40)
    await thread.set_env("TOKEN", "s3cret", type="secret")
    assert (await thread.run("Hi")).status == "completed"
    assert (await thread.run("Pay Ann 5")).status == "paused"
    # What observational memory keeps of the thread: its watermark and its own observations.
    now = time.time()
    observation = Observation(
        observation_id=new_id("obs"),
        scope="thread",
        owner=thread.id,
        namespace="payer",
        text="Ann is paid in small amounts.",
        observed_at=now,
        created_at=now,
        updated_at=now,
        source_thread_id=thread.id,
    )
    await app.store.bind_memory(thread.id, "payer")
    assert await app.store.record_observations(
        thread.id, "payer", after=0, through=2, observations=[observation]
    )
    return thread


async def test_a_thread_exported_and_imported_again_is_the_same_and_resumes(store: Store) -> None:
    app = app_on(store, "Sent.")
    await app.open()
    try:
        thread = await paused_thread(app)
        before = await stored(store, thread.id)

        snapshot = await store.export_thread(thread.id)
        assert await thread.delete()
        assert await store.get_thread(thread.id) is None
        # What a checkpoint carries: JSON text.
        carried = ThreadSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict())))
        record = await store.import_thread(carried)

        assert before["steps"][-1] and before["memory"] is not None and before["observations"]
        after = await stored(store, thread.id)
        assert record == before["thread"]
        assert after == before
        assert "s3cret" not in json.dumps(snapshot.to_dict())
        resumed = await app.threads.resume(thread.id)
        assert await resumed.env("TOKEN") == "s3cret"
        await resumed.approve("c1")
        result = await resumed.resume_turn()
        assert (result.status, result.text) == ("completed", "Sent.")
        assert [e.seq for e in await store.load_events(thread.id)] == list(
            range(1, (await store.get_thread(thread.id)).last_event_seq + 1)  # type: ignore[union-attr]
        )
    finally:
        await app.close()


async def test_a_snapshot_moves_a_thread_to_another_store(store: Store) -> None:
    app = app_on(store)
    await app.open()
    try:
        thread = await paused_thread(app)
        before = await stored(store, thread.id)
        snapshot = await store.export_thread(thread.id)
    finally:
        await app.close()

    async with SQLiteStore(":memory:") as other:
        await other.import_thread(snapshot)
        assert await stored(other, thread.id) == before


async def test_import_refuses_a_thread_the_store_holds_and_changes_nothing(store: Store) -> None:
    app = app_on(store)
    await app.open()
    try:
        thread = await paused_thread(app)
        before = await stored(store, thread.id)
        snapshot = await store.export_thread(thread.id)

        with pytest.raises(InvalidInputError, match="holds thread"):
            await store.import_thread(snapshot)
        renamed = ThreadSnapshot(
            thread_id="thr_renamed",
            tables={
                **snapshot.tables,
                "threads": [{**snapshot.tables["threads"][0], "thread_id": "thr_renamed"}],
            },
        )
        with pytest.raises(InvalidInputError, match="under another thread"):
            await store.import_thread(renamed)

        assert await store.get_thread("thr_renamed") is None
        assert await stored(store, thread.id) == before
    finally:
        await app.close()


async def test_a_snapshot_that_is_not_whole_is_refused(store: Store) -> None:
    app = app_on(store)
    await app.open()
    try:
        thread = await paused_thread(app)
        snapshot = await store.export_thread(thread.id)
        await thread.delete()
        broken = dict(snapshot.tables)
        broken["items"] = [{"seq": 1}]

        with pytest.raises(InvalidInputError, match="columns"):
            await store.import_thread(ThreadSnapshot(thread_id=thread.id, tables=broken))
        with pytest.raises(InvalidInputError, match="format"):
            ThreadSnapshot.from_dict({**snapshot.to_dict(), "format": 2})
        with pytest.raises(InvalidInputError, match="not a thread snapshot"):
            ThreadSnapshot.from_dict({"tables": []})

        assert await store.get_thread(thread.id) is None
    finally:
        await app.close()


async def test_export_refuses_unknown_threads_running_turns_and_trees(store: Store) -> None:
    app = app_on(store)
    await app.open()
    try:
        with pytest.raises(NotFoundError):
            await store.export_thread("thr_unknown")
        thread = await app.threads.start()
        child = (await store.spawn_thread(spawn(thread.id))).thread
        with pytest.raises(InvalidInputError, match="tree of threads"):
            await store.export_thread(thread.id)
        with pytest.raises(InvalidInputError, match="tree of threads"):
            await store.export_thread(child.thread_id)
    finally:
        await app.close()


async def test_export_refuses_a_thread_whose_turn_runs(store: Store) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @tl.tool
    async def slow() -> str:
        """Wait."""
        started.set()
        await release.wait()
        return "done"

    agent = tl.Agent(
        name="slow", model=ScriptedModel([tool_call("slow", {}), "Done."]), tools=[slow]
    )
    app = tl.Threadline(agents=[agent], store=store)
    await app.open()
    try:
        thread = await app.threads.start()
        running = asyncio.ensure_future(thread.run("Go"))
        await started.wait()
        with pytest.raises(TurnInProgressError):
            await store.export_thread(thread.id)
        release.set()
        assert (await running).status == "completed"
        assert (await store.export_thread(thread.id)).thread_id == thread.id
    finally:
        await app.close()
