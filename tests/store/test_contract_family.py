"""Child threads in the store: a spawn stores the child with its first input and a copy of its
parent's environment in one transaction, once per (parent, reference id); deleting a thread
takes its descendants. Written against the `Store` protocol only."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from test_contract import thread_record, user_item

from threadline.store import (
    AppendItems,
    FileOp,
    Spawn,
    Store,
    Terminate,
    ThreadCursor,
    ThreadUpdate,
)
from threadline.types import (
    EnvEntry,
    InboxEntry,
    InvalidInputError,
    NotFoundError,
    ThreadRecord,
    ThreadTerminatedError,
    TimerRecord,
    new_id,
)


def spawn(parent_id: str, reference_id: str = "researcher", **fields: Any) -> Spawn:
    child = replace(
        thread_record(parent_id=parent_id, reference_id=reference_id, parent_turn_id="turn_p"),
        **fields,
    )
    entry = InboxEntry(
        entry_id=new_id("inbox"),
        thread_id=child.thread_id,
        position=0,
        input=[{"type": "text", "text": "look into it"}],
        sender="parent",
        client_key="spawn",
        created_at=time.time(),
    )
    return Spawn(thread=child, entry=entry)


def env(owner: str, name: str, value: str, env_type: str = "text") -> EnvEntry:
    return EnvEntry(
        scope="thread",
        owner=owner,
        name=name,
        type=env_type,  # type: ignore[arg-type]
        value=value,
        updated_at=time.time(),
    )


async def env_of(store: Store, thread_id: str, name: str) -> tuple[str, str] | None:
    found = await store.get_env(name, [("thread", thread_id)])
    return (found[0].type, found[0].value) if found else None


async def test_a_spawn_stores_the_child_with_its_first_input_queued(store: Store) -> None:
    parent = await store.create_thread(thread_record(user_id="ada"))
    request = spawn(parent.thread_id, user_id="ada")

    spawned = await store.spawn_thread(request)

    assert (spawned.thread, spawned.created) == (request.thread, True)
    child = await store.get_thread(request.thread.thread_id)
    assert child == request.thread
    assert (child.parent_id, child.reference_id, child.parent_turn_id) == (
        parent.thread_id,
        "researcher",
        "turn_p",
    )
    queued = replace(request.entry, position=1)
    assert await store.peek_inbox(child.thread_id) == queued
    assert await store.list_inbox(child.thread_id) == [queued]
    # Queued as input of an idle thread is: work for whoever runs threads.
    assert ("inbox", child.thread_id) in [(w.kind, w.thread_id) for w in await store.find_work()]
    assert await store.get_thread(parent.thread_id) == parent


async def test_a_repeated_spawn_returns_the_first_child_and_writes_nothing(store: Store) -> None:
    parent = await store.create_thread(thread_record())
    request = spawn(parent.thread_id)
    first = await store.spawn_thread(request)
    repeat = spawn(parent.thread_id)

    again = await store.spawn_thread(repeat)

    assert (again.thread, again.created) == (first.thread, False)
    assert await store.get_thread(repeat.thread.thread_id) is None
    assert await store.list_children(parent.thread_id) == [first.thread]
    assert [e.entry_id for e in await store.list_inbox(first.thread.thread_id)] == [
        request.entry.entry_id
    ]
    # The same request again (a retry after an unknown commit) finds the child too.
    assert await store.spawn_thread(request) == again


async def test_a_reference_id_names_a_child_within_its_parent_only(store: Store) -> None:
    one = await store.create_thread(thread_record())
    other = await store.create_thread(thread_record())

    first = await store.spawn_thread(spawn(one.thread_id, "helper"))
    second = await store.spawn_thread(spawn(other.thread_id, "helper"))

    assert first.created and second.created
    assert first.thread.thread_id != second.thread.thread_id
    assert await store.get_child(one.thread_id, "helper") == first.thread
    assert await store.get_child(other.thread_id, "helper") == second.thread


async def test_a_parent_that_takes_no_input_is_refused_and_nothing_is_written(
    store: Store,
) -> None:
    terminated = await store.create_thread(thread_record())
    await store.terminate_thread(
        Terminate(
            thread_id=terminated.thread_id,
            reason="done",
            expected=ThreadCursor(last_item_seq=0, last_event_seq=0),
        )
    )
    archived = await store.create_thread(thread_record())
    await store.update_thread(archived.thread_id, ThreadUpdate(status="archived"))
    refusals = [
        ("thr_missing", NotFoundError),
        (terminated.thread_id, ThreadTerminatedError),
        (archived.thread_id, InvalidInputError),
    ]
    for parent_id, error in refusals:
        request = spawn(parent_id)
        with pytest.raises(error):
            await store.spawn_thread(request)
        assert await store.get_thread(request.thread.thread_id) is None
        assert await store.list_inbox(request.thread.thread_id) == []
        assert await store.list_children(parent_id) == []
    # A thread id that is taken already is refused too.
    parent = await store.create_thread(thread_record())
    taken = spawn(parent.thread_id)
    taken = replace(taken, thread=replace(taken.thread, thread_id=terminated.thread_id))
    taken = replace(taken, entry=replace(taken.entry, thread_id=terminated.thread_id))
    with pytest.raises(InvalidInputError, match="exists already"):
        await store.spawn_thread(taken)
    assert await store.list_children(parent.thread_id) == []


async def test_the_child_starts_with_a_copy_of_its_parents_environment(store: Store) -> None:
    parent = await store.create_thread(thread_record(user_id="ada"))
    await store.set_env(env(parent.thread_id, "REGION", "eu"))
    await store.set_env(env(parent.thread_id, "TOKEN", "ciphertext", "secret"))
    await store.set_env(
        EnvEntry(
            scope="user",
            owner="ada",
            name="REGION",
            type="text",
            value="us",
            updated_at=time.time(),
        )
    )

    child = (await store.spawn_thread(spawn(parent.thread_id))).thread.thread_id

    assert await env_of(store, child, "REGION") == ("text", "eu")
    assert await env_of(store, child, "TOKEN") == ("secret", "ciphertext")
    # A copy: the child's value changes alone, and what the parent sets later stays its own
    # unless it is propagated.
    await store.set_env(env(child, "REGION", "ap"))
    assert await env_of(store, parent.thread_id, "REGION") == ("text", "eu")
    await store.set_env(env(parent.thread_id, "LATER", "x"))
    assert await env_of(store, child, "LATER") is None
    assert await store.set_env(env(parent.thread_id, "SHARED", "y"), propagate=True) == [
        parent.thread_id,
        child,
    ]
    assert await env_of(store, child, "SHARED") == ("text", "y")


async def test_children_are_listed_oldest_first_and_found_by_reference_id(store: Store) -> None:
    parent = await store.create_thread(thread_record())
    now = time.time()
    requests = [
        spawn(parent.thread_id, "b", created_at=now + 2),
        spawn(parent.thread_id, "a", created_at=now),
        spawn(parent.thread_id, "c", created_at=now + 1),
    ]
    for request in requests:
        await store.spawn_thread(request)
    grandchild = await store.spawn_thread(spawn(requests[0].thread.thread_id, "a"))

    children = await store.list_children(parent.thread_id)

    assert [c.reference_id for c in children] == ["a", "c", "b"]
    assert await store.get_child(parent.thread_id, "b") == requests[0].thread
    assert await store.get_child(parent.thread_id, "d") is None
    assert await store.get_child(requests[0].thread.thread_id, "a") == grandchild.thread
    assert await store.list_children(grandchild.thread.thread_id) == []
    assert await store.list_children("thr_missing") == []


async def test_deleting_a_thread_deletes_its_descendants_and_all_they_hold(
    store: Store,
) -> None:
    root = await store.create_thread(thread_record())
    child = (await store.spawn_thread(spawn(root.thread_id))).thread
    grandchild = (await store.spawn_thread(spawn(child.thread_id))).thread
    sibling = await store.create_thread(thread_record())
    family = [root, child, grandchild]
    for thread in [*family, sibling]:
        await _fill(store, thread)

    assert await store.delete_thread(root.thread_id) is True

    for thread in family:
        thread_id = thread.thread_id
        assert await store.get_thread(thread_id) is None
        assert await store.load_items(thread_id) == []
        assert await store.list_inbox(thread_id) == []
        assert await store.list_timers(thread_id, pending_only=False) == []
        assert await store.list_files(thread_id) == []
        assert await store.get_env("REGION", [("thread", thread_id)]) == []
    assert await store.get_thread(sibling.thread_id) is not None
    assert len(await store.load_items(sibling.thread_id)) == 1
    assert await env_of(store, sibling.thread_id, "REGION") == ("text", "eu")
    assert await store.delete_thread(root.thread_id) is False


async def test_deleting_a_child_keeps_its_parent(store: Store) -> None:
    root = await store.create_thread(thread_record())
    child = (await store.spawn_thread(spawn(root.thread_id))).thread

    assert await store.delete_thread(child.thread_id) is True

    assert await store.get_thread(root.thread_id) == root
    assert await store.list_children(root.thread_id) == []
    again = await store.spawn_thread(spawn(root.thread_id))
    assert again.created  # its reference id is free again


async def test_concurrent_spawns_of_one_reference_id_make_one_child(store: Store) -> None:
    parent = await store.create_thread(thread_record())
    requests = [spawn(parent.thread_id) for _ in range(8)]

    results = await asyncio.gather(*(store.spawn_thread(r) for r in requests))

    assert sum(r.created for r in results) == 1
    (created,) = [r.thread for r in results if r.created]
    assert {r.thread.thread_id for r in results} == {created.thread_id}
    assert await store.list_children(parent.thread_id) == [created]
    assert len(await store.list_inbox(created.thread_id)) == 1


async def _fill(store: Store, thread: ThreadRecord) -> None:
    """An item, a queued input, a timer, a file and an environment value for `thread`."""
    now = time.time()
    await store.append_items(
        AppendItems(
            thread_id=thread.thread_id,
            expected=ThreadCursor(last_item_seq=0, last_event_seq=0),
            items=[replace(user_item(thread, "", 1), turn_id=None)],
        )
    )
    await store.enqueue(
        InboxEntry(
            entry_id=new_id("inbox"),
            thread_id=thread.thread_id,
            position=0,
            input=[{"type": "text", "text": "more"}],
            created_at=now,
        )
    )
    await store.schedule_timer(
        TimerRecord(
            timer_id=new_id("timer"),
            thread_id=thread.thread_id,
            due_at=now + 600,
            kind="input",
            input=[{"type": "text", "text": "later"}],
            created_at=now,
        )
    )
    await store.change_files(
        thread.thread_id,
        [FileOp(kind="write", path="notes.md", at=now, data=b"x", file_id=new_id("file"))],
        quota_bytes=None,
    )
    await store.set_env(env(thread.thread_id, "REGION", "eu"))
